import type { HttpAnswer } from './http-request.js';

// Brands shared by every copy of this module (the bundled CLI's and the package's own files, a CommonJS and an
// ESM copy of the SDK): `instanceof` holds for an error thrown by any of them.
const CRUCIBLE_ERROR: unique symbol = Symbol.for('crucible.CrucibleError');
const UNREACHABLE_ERROR: unique symbol = Symbol.for('crucible.CrucibleUnreachableError');

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** The API answered with an error: its HTTP status and the body's `{ error: { code, message, field } }`. */
export class CrucibleError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, CRUCIBLE_ERROR);
  }

  readonly [CRUCIBLE_ERROR] = true;
  override readonly name = 'CrucibleError';
  readonly status: number;
  readonly code: string;
  readonly field: string | null;

  constructor(status: number, code: string, message: string, field: string | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The server could not be reached (nothing listening, connection reset, DNS failure), after every retry. */
export class CrucibleUnreachableError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, UNREACHABLE_ERROR);
  }

  readonly [UNREACHABLE_ERROR] = true;
  override readonly name = 'CrucibleUnreachableError';
  readonly baseUrl: string;
  /** The network error's code, e.g. `ECONNREFUSED`, when there was one. */
  readonly causeCode: string | null;

  constructor(baseUrl: string, causeCode: string | null, cause: unknown) {
    super(`cannot reach the Crucible server at ${baseUrl} (${causeCode ?? String(cause)})`, { cause });
    this.baseUrl = baseUrl;
    this.causeCode = causeCode;
  }
}

/** Builds the typed error from a non-2xx answer; a body that is not the API's error shape still says something. */
export async function errorFromAnswer(answer: HttpAnswer): Promise<CrucibleError> {
  const text = await answer.text().catch(() => '');
  let error: { code?: unknown; message?: unknown; field?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  return new CrucibleError(
    answer.status,
    typeof error?.code === 'string' ? error.code : 'http_error',
    typeof error?.message === 'string' ? error.message : text.trim() || `HTTP ${answer.status}`,
    typeof error?.field === 'string' ? error.field : null,
  );
}
