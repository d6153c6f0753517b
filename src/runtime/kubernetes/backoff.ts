import { setTimeout as delay } from 'node:timers/promises';
import { KubeError, toKubeError } from './kube-client.js';

/**
 * Waiting and retrying, shared by the reflector, the log collector and object creation. Every wait takes
 * its abort listener off the signal when it ends (`timers/promises` does), so a long-lived signal that sees
 * thousands of backoffs holds no listener afterwards.
 */

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects because of the abort. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}

/** Jittered exponential backoff (client-go: 800 ms doubling to 30 s), ×0.5–1.5 so clients spread out. */
export function jitteredBackoff(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** failures) * (0.5 + Math.random());
}

/**
 * Failures worth repeating: the connection (refused, reset, `fetch failed`, our own request timeout: code 0),
 * 408, 429 and 5xx. Everything else (400, 403, 404, 422…) answers the same on every try.
 */
export function isRetryable(error: KubeError): boolean {
  return error.code === 0 || error.code === 408 || error.code === 429 || error.code >= 500;
}

export interface RetryOptions {
  /** Epoch ms after which no new attempt starts; the last error is thrown then. */
  readonly deadline: number;
  readonly initialMs: number;
  readonly maxMs: number;
  /** Each attempt that takes longer fails as a timeout (code 0) and is repeated. */
  readonly attemptTimeoutMs: number;
  /** Aborting stops the retries; the call then rejects with the last error. */
  readonly signal?: AbortSignal;
  readonly warn: (message: string) => void;
}

/** One attempt, bounded in time: a server that accepted the connection but never answers is a timeout. */
async function attempt<T>(run: () => Promise<T>, timeoutMs: number): Promise<T> {
  const timer = new AbortController();
  const expired = delay(timeoutMs, undefined, { signal: timer.signal }).then(() => {
    throw new KubeError(`Kubernetes API did not answer within ${timeoutMs} ms`, 0);
  });
  try {
    return await Promise.race([run(), expired]);
  } finally {
    timer.abort();
    expired.catch(() => undefined);
  }
}

/**
 * Runs `run` until it succeeds, a failure is not retryable, or the deadline passes. Waits `Retry-After`
 * when the server sent one, jittered exponential backoff otherwise, never past the deadline. Callers make
 * `run` idempotent (deterministic names, 409 = already there).
 *
 * @example
 * await retryUntil('create Job x', () => api.createJob(job), { deadline: Date.now() + 60_000, … });
 */
export async function retryUntil<T>(what: string, run: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let failures = 0; ; failures += 1) {
    let error: KubeError;
    if (options.signal?.aborted) throw new KubeError(`${what}: stopped`, 0);
    try {
      return await attempt(run, options.attemptTimeoutMs);
    } catch (caught) {
      error = toKubeError(caught);
    }
    const left = options.deadline - Date.now();
    if (!isRetryable(error) || left <= 0 || options.signal?.aborted) {
      if (isRetryable(error) && left <= 0) {
        throw new KubeError(`${what}: gave up at the deadline: ${error.message}`, error.code);
      }
      throw error;
    }
    const wait = Math.min(
      left,
      error.retryAfterMs ?? jitteredBackoff(failures, options.initialMs, options.maxMs),
    );
    options.warn(`${what}: ${error.message}; retrying in ${Math.round(wait)} ms`);
    await pause(wait, options.signal);
  }
}
