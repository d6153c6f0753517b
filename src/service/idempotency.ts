import { createHash } from 'node:crypto';
import { CrucibleError, type Submission } from '../core/index.js';
import type { IdempotencyKey, IdempotentSubmission } from '../store/store.js';
import { SYSTEM_CALLER, type Caller } from './caller.js';

/** Who sent a submission, as far as idempotency keys go: keys of different callers never collide. */
export interface SubmitOptions {
  readonly idempotencyKey?: string;
  /**
   * Who submits: the evaluation records its user, and idempotency keys live in its scope. A string names an
   * internal way in (the CRD controller: `crd`) that acts for no user, with keys of its own.
   */
  readonly caller?: Caller | string;
  /** Also show it as an `Evaluation` object in this namespace (needs the CRD controller, `--crd`). */
  readonly mirrorTo?: string;
}

/** The caller behind `SubmitOptions.caller`. */
export function submitterOf(caller: Caller | string | undefined): Caller {
  if (caller === undefined) return SYSTEM_CALLER;
  return typeof caller === 'string' ? { ...SYSTEM_CALLER, scope: caller } : caller;
}

/**
 * A stable digest of what was asked: the same body with keys in another order is the same submission, a
 * changed field is not (that repeat answers `idempotency_conflict`).
 */
export function fingerprintOf(submission: Submission): string {
  return createHash('sha256').update(canonicalJson(submission)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A repeat must be the same submission; the same key with another body is the caller's mistake. */
export function assertSameSubmission(earlier: IdempotentSubmission, key: IdempotencyKey): void {
  if (earlier.fingerprint === key.fingerprint) return;
  throw new CrucibleError(
    'idempotency_conflict',
    `Idempotency-Key "${key.key}" was already used for a different submission; use a new key`,
    'idempotency-key',
  );
}
