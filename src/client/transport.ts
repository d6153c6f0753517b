import { CrucibleUnreachableError, errorFromResponse } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included (default 5); 1 turns retries off. */
  readonly attempts?: number;
  /** The first backoff step, doubled per attempt, with full jitter (default 100 ms). */
  readonly baseDelayMs?: number;
  /** The largest backoff step (default 5 s). */
  readonly maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the error is thrown (default 60 s). */
  readonly maxRetryAfterMs?: number;
}

export interface Request {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
}

/** Statuses that say "not now" rather than "no": the same request may succeed later. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

/** Network failures where the request can be sent again (submissions carry an Idempotency-Key). */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'fetch_failed',
]);

/**
 * Sends requests with `fetch`, retrying 429/502/503/504 and connection errors with jittered exponential
 * backoff that honours `Retry-After`, a bounded number of times. Other non-2xx answers become `CrucibleError`.
 */
export class Transport {
  readonly baseUrl: string;
  readonly #headers: Record<string, string>;
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;

  constructor(baseUrl: string, headers: Record<string, string>, retry: RetryOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#headers = headers;
    this.#attempts = Math.max(1, retry.attempts ?? 5);
    this.#baseDelayMs = retry.baseDelayMs ?? 100;
    this.#maxDelayMs = retry.maxDelayMs ?? 5000;
    this.#maxRetryAfterMs = retry.maxRetryAfterMs ?? 60_000;
  }

  /** The answer once it is 2xx (or the status is in `accept`); the body is left for the caller to read. */
  async send(request: Request, accept: readonly number[] = []): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.#attempts;
      let response: Response;
      try {
        response = await fetch(this.baseUrl + request.path, this.#init(request));
      } catch (error) {
        const code = networkErrorCode(error);
        if (request.signal?.aborted) throw error;
        if (last || code === null || !RETRYABLE_CODES.has(code)) {
          throw new CrucibleUnreachableError(this.baseUrl, code, error);
        }
        await sleep(this.backoffMs(attempt), request.signal);
        continue;
      }
      if (response.ok || accept.includes(response.status)) return response;
      const error = await errorFromResponse(response);
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      if (last || !RETRYABLE_STATUSES.has(response.status) || retryAfterMs > this.#maxRetryAfterMs)
        throw error;
      await sleep(Math.max(retryAfterMs, this.backoffMs(attempt)), request.signal);
    }
  }

  /** Full jitter: uniform in [0, min(max, base·2^(attempt-1))], so clients that failed together spread out. */
  backoffMs(attempt: number): number {
    return Math.random() * Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
  }

  async json<T>(request: Request): Promise<T> {
    const response = await this.send(request);
    return (await response.json()) as T;
  }

  #init(request: Request): RequestInit {
    const headers: Record<string, string> = { ...this.#headers, ...request.headers };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    return {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      ...(request.signal ? { signal: request.signal } : {}),
    };
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; 0 when absent or unreadable. */
export function parseRetryAfter(value: string | null): number {
  if (value === null || value.trim() === '') return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

/** The system error code under fetch's `TypeError: fetch failed` (undici puts it in `cause`, sometimes deeper). */
export function networkErrorCode(error: unknown): string | null {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'ABORT_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  // No code at all: undici's own "fetch failed" is still a network failure (a bad URL is not: it says so).
  return error instanceof TypeError && error.message === 'fetch failed' ? 'fetch_failed' : null;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
