/** The closed set of error codes the API and CLI can report. */
export const ERROR_CODES = {
  invalid_request: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  unknown_language: 400,
  not_found: 404,
  rate_limited: 429,
  too_many_streams: 429,
  not_ready: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

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

  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }
}
