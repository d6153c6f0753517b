import { CrucibleError } from './errors.js';

/** Group usage by the submitting user, or by the value of one label (`{ label: 'team' }`). */
export type UsageGroupBy = 'user' | { readonly label: string };

/** A report spans at most this long: a bound on what one request makes the database sum. */
export const MAX_USAGE_RANGE_DAYS = 366;
/** Without `from`, a report covers this many days before `to`. */
export const DEFAULT_USAGE_RANGE_DAYS = 7;

const DAY_MS = 24 * 60 * 60 * 1000;
/** A label key as submissions accept it (Kubernetes label syntax). */
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
/**
 * An instant: a date (midnight UTC) or a date and time with `Z` or an offset. A time without a zone is refused:
 * whose midnight it meant is a guess, and a report's edges should not depend on the server's zone.
 */
const ISO_INSTANT = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d))?$/i;

/** `user` or `label:KEY`, or null when the text is neither. */
export function parseUsageGroupBy(text: string): UsageGroupBy | null {
  if (text === 'user') return 'user';
  const key = text.startsWith('label:') ? text.slice('label:'.length) : null;
  return key !== null && LABEL_KEY.test(key) ? { label: key } : null;
}

/** The query-string form of a grouping: `user` or `label:KEY`. */
export function formatUsageGroupBy(groupBy: UsageGroupBy): string {
  return groupBy === 'user' ? 'user' : `label:${groupBy.label}`;
}

/** The instant an ISO 8601 text names, or null when it is not one (see `ISO_INSTANT`). */
export function parseIsoInstant(text: string): Date | null {
  if (!ISO_INSTANT.test(text)) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * The window a report covers, defaults filled in (`to` now, `from` a week before `to`).
 *
 * @throws CrucibleError `invalid_request` naming `from` or `to` when `from` is not before `to`, or the window
 * is longer than `MAX_USAGE_RANGE_DAYS`
 */
export function usageWindow(
  from: Date | undefined,
  to: Date | undefined,
  now: Date,
): { from: Date; to: Date } {
  const end = to ?? now;
  const start = from ?? new Date(end.getTime() - DEFAULT_USAGE_RANGE_DAYS * DAY_MS);
  if (start.getTime() >= end.getTime()) {
    throw new CrucibleError('invalid_request', 'from must be before to', 'from');
  }
  if (end.getTime() - start.getTime() > MAX_USAGE_RANGE_DAYS * DAY_MS) {
    throw new CrucibleError(
      'invalid_request',
      `from and to may be at most ${MAX_USAGE_RANGE_DAYS} days apart; ask for several reports`,
      'to',
    );
  }
  return { from: start, to: end };
}
