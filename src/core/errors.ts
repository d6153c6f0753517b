/**
 * The closed set of domain error codes. The core says what went wrong; the API's one mapper
 * (`api/errors.ts`) decides which HTTP status each code gets.
 */
export const ERROR_CODES = [
  'invalid_request',
  'invalid_json',
  'unsupported_media_type',
  'payload_too_large',
  'unknown_language',
  /** A language of the table that this host (or cluster) cannot run yet: the message names the install command. */
  'language_not_installed',
  'not_found',
  'idempotency_conflict',
  /** No token, or one the server does not know (revoked, mistyped). */
  'unauthenticated',
  /** A valid token that may not make this call (an admin-only call by a non-admin). */
  'forbidden',
  /** A named resource (a project) with that name exists already. */
  'already_exists',
  'rate_limited',
  /** A per-user quota (`maxQueued`) refuses the submission; nothing was stored. */
  'quota_exceeded',
  'too_many_streams',
  'slow_consumer',
  'not_ready',
  /** The data directory's filesystem is nearly full: new work is refused, nothing was stored. */
  'storage_full',
  /** A Range header no byte of the object satisfies. */
  'range_not_satisfiable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The one error type of Crucible; the HTTP layer maps it to `{ error: { code, message, field } }`. */
export class CrucibleError extends Error {
  readonly code: ErrorCode;
  readonly field: string | null;

  constructor(code: ErrorCode, message: string, field: string | null = null) {
    super(message);
    this.name = 'CrucibleError';
    this.code = code;
    this.field = field;
  }
}
