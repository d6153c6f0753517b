/**
 * Per-user quotas and the fair-share quantum (docs/scheduling.md). Pure: the store keeps the clocks, the
 * service checks the quotas.
 */

/**
 * How far one queued evaluation moves its user's fair clock at its priority. Only the order of tags matters
 * (users with work queued take turns, one evaluation each), so any positive value gives the same order; it is
 * 1 s so a tag reads as a time when every user submits slower than one per second.
 */
export const FAIR_QUANTUM = 1000;

/** A user's limits, as a token carries them (`TokenRecord` has these fields); null means no limit. */
export interface Quotas {
  /** Evaluations starting, running or held for an admission at once; the rest wait in the queue. */
  readonly maxRunning: number | null;
  /** Evaluations queued at once; a submission past it is refused (`quota_exceeded`), nothing stored. */
  readonly maxQueued: number | null;
  /** Submissions per sliding minute; past it: `rate_limited` with Retry-After. */
  readonly ratePerMinute: number | null;
}

/** The window `ratePerMinute` counts over. */
export const RATE_WINDOW_MS = 60_000;

/** What the store counts for one user's quota check. */
export interface UserBacklog {
  /** Queued now (held ones included). */
  readonly queued: number;
  /** Submitted within the window. */
  readonly submittedInWindow: number;
  /**
   * When the submission that must leave the window first was made (ms): the (ratePerMinute − count + 1)-th
   * newest in it, so that once it is a minute old `count` more fit; null when there is none.
   */
  readonly windowFullSinceMs: number | null;
}

/** What a quota check decided: admitted, or which limit refuses and for how long (rate only). */
export type QuotaDecision =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'quota_exceeded'; readonly message: string }
  | {
      readonly ok: false;
      readonly code: 'rate_limited';
      readonly message: string;
      readonly retryAfterSeconds: number;
    };

/**
 * Whether `count` more submissions fit the user's quotas (a batch counts each item; all or none).
 *
 * @example decideQuota({ maxRunning: null, maxQueued: 10, ratePerMinute: null }, backlog, 1, Date.now())
 */
export function decideQuota(
  quotas: Quotas,
  backlog: UserBacklog,
  count: number,
  nowMs: number,
): QuotaDecision {
  const { maxQueued, ratePerMinute } = quotas;
  if (ratePerMinute !== null && backlog.submittedInWindow + count > ratePerMinute) {
    // A batch larger than the whole rate can never fit: waiting does not help, so say so once.
    const since = backlog.windowFullSinceMs ?? nowMs;
    const retryAfterSeconds = Math.max(1, Math.ceil((since + RATE_WINDOW_MS - nowMs) / 1000));
    return {
      ok: false,
      code: 'rate_limited',
      message:
        `ratePerMinute of ${ratePerMinute} reached (${backlog.submittedInWindow} submitted in the last minute` +
        `${count > 1 ? `, ${count} more asked` : ''}); retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    };
  }
  if (maxQueued !== null && backlog.queued + count > maxQueued) {
    return {
      ok: false,
      code: 'quota_exceeded',
      message:
        `maxQueued of ${maxQueued} reached (${backlog.queued} queued` +
        `${count > 1 ? `, ${count} more asked` : ''}); nothing was stored`,
    };
  }
  return { ok: true };
}
