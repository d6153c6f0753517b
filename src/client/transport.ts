import type { Agent } from 'node:http';
import { retryAfterMs } from '../core/retry-after.js';
import { CrucibleUnreachableError, errorFromAnswer } from './errors.js';
import { exchange, type HttpAnswer } from './http-request.js';

export interface RetryOptions {
  /** Attempts in all, the first included (default 5); 1 turns retries off. */
  readonly attempts?: number;
  /** The first backoff step, doubled per attempt, with full jitter (default 100 ms). */
  readonly baseDelayMs?: number;
  /** The largest backoff step (default 5 s). */
  readonly maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the error is thrown (default 60 s). */
  readonly maxRetryAfterMs?: number;
  /** Told before each wait to retry: for logs and metrics. */
  readonly onRetry?: (retry: RetryEvent) => void;
}

/** A request about to be sent again: which attempt failed, why, and how long until the next one. */
export interface RetryEvent {
  readonly method: string;
  readonly path: string;
  readonly attempt: number;
  /** The HTTP status, or the network error code (ECONNREFUSED, ECONNRESET, …). */
  readonly reason: number | string;
  readonly delayMs: number;
}

export interface Request {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'PUT';
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
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

/**
 * Sends requests, retrying 429/502/503/504 and connection errors with jittered exponential backoff that
 * honours `Retry-After`, a bounded number of times. Other non-2xx answers become `CrucibleError`.
 */
export class Transport {
  readonly baseUrl: string;
  readonly #headers: Record<string, string>;
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #onRetry: ((retry: RetryEvent) => void) | undefined;
  readonly #agent: Agent | undefined;

  constructor(baseUrl: string, headers: Record<string, string>, retry: RetryOptions = {}, agent?: Agent) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#headers = headers;
    this.#attempts = Math.max(1, retry.attempts ?? 5);
    this.#baseDelayMs = retry.baseDelayMs ?? 100;
    this.#maxDelayMs = retry.maxDelayMs ?? 5000;
    this.#maxRetryAfterMs = retry.maxRetryAfterMs ?? 60_000;
    this.#onRetry = retry.onRetry;
    this.#agent = agent;
  }

  /** The answer once it is 2xx (or the status is in `accept`); the body is left for the caller to read. */
  async send(request: Request, accept: readonly number[] = []): Promise<HttpAnswer> {
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.#attempts;
      let answer: HttpAnswer;
      try {
        answer = await exchange(this.#httpRequest(request));
      } catch (error) {
        if (request.signal?.aborted) throw request.signal.reason;
        const code = networkErrorCode(error);
        if (last || code === null || !RETRYABLE_CODES.has(code)) {
          throw new CrucibleUnreachableError(this.baseUrl, code, error);
        }
        await this.#wait(request, attempt, code, this.backoffMs(attempt));
        continue;
      }
      if ((answer.status >= 200 && answer.status < 300) || accept.includes(answer.status)) return answer;
      const error = await errorFromAnswer(answer);
      const retryAfter = retryAfterMs(answer.headers['retry-after']) ?? 0;
      if (last || !RETRYABLE_STATUSES.has(answer.status) || retryAfter > this.#maxRetryAfterMs) throw error;
      await this.#wait(request, attempt, answer.status, Math.max(retryAfter, this.backoffMs(attempt)));
    }
  }

  /** Full jitter: uniform in [0, min(max, base·2^(attempt-1))], so clients that failed together spread out. */
  backoffMs(attempt: number): number {
    return Math.random() * Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
  }

  async json<T>(request: Request): Promise<T> {
    const answer = await this.send(request);
    return JSON.parse(await answer.text()) as T;
  }

  async #wait(request: Request, attempt: number, reason: number | string, delayMs: number): Promise<void> {
    this.#onRetry?.({ method: request.method, path: request.path, attempt, reason, delayMs });
    await sleep(delayMs, request.signal);
  }

  /** The headers every request carries (authorization): for connections made outside `send` (WebSocket). */
  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  #httpRequest(request: Request) {
    const headers: Record<string, string> = { ...this.#headers, ...request.headers };
    // A Buffer body is sent as it is (sandbox files); anything else as JSON.
    const raw = Buffer.isBuffer(request.body);
    if (request.body !== undefined)
      headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
    return {
      method: request.method,
      url: new URL(this.baseUrl + request.path),
      headers,
      body:
        request.body === undefined
          ? undefined
          : raw
            ? (request.body as Buffer)
            : JSON.stringify(request.body),
      signal: request.signal,
      agent: this.#agent,
    };
  }
}

/** The system error code of a failed exchange (ECONNREFUSED, …), or null when it has none. */
export function networkErrorCode(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
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
