import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store.js';

/** How an object write is retried: `attempts` in all, pauses doubling from `baseDelayMs` up to `maxDelayMs`. */
export interface ObjectRetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** About 6 s of trying: a store restarting or throttling recovers within that; a full disk does not. */
export const DEFAULT_OBJECT_RETRY: ObjectRetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 2_000 };

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EBUSY',
  'EAGAIN',
  'EIO',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'ThrottlingException',
  'TimeoutError',
]);

interface ErrorShape {
  code?: unknown;
  name?: unknown;
  cause?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * Whether a failed object-store call may succeed if repeated: a network error, an S3 5xx / 429 / throttling
 * answer (the AWS SDK marks those `$retryable` or with the status), a busy disk. A 4xx, a missing bucket, a
 * full disk (ENOSPC) or a bad key are final: repeating them only delays the report.
 */
export function isTransientObjectError(error: unknown): boolean {
  for (
    let e = error as ErrorShape | undefined, depth = 0;
    e && depth < 4;
    e = e.cause as ErrorShape, depth++
  ) {
    if (typeof e !== 'object') return false;
    if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
    if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
    if (e.$retryable) return true;
    const status = e.$metadata?.httpStatusCode;
    if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  }
  return false;
}

/** A body that can be read again for each attempt: a buffer, or a function opening a fresh stream. */
export type RepeatableBody = Buffer | (() => Readable | Promise<Readable>);

/**
 * `objects.put` retried with backoff while the error is transient. A stream cannot be replayed, so the body
 * is a buffer or a function opening it anew (a spooled temp file); `onRetry` is told each failed attempt.
 *
 * @example
 * await putRetried(objects, key, () => createReadStream(file), { contentType }, DEFAULT_OBJECT_RETRY, warn);
 */
export async function putRetried(
  objects: ObjectStore,
  key: string,
  body: RepeatableBody,
  options: PutOptions,
  policy: ObjectRetryPolicy,
  onRetry: (error: unknown, attempt: number) => void = () => undefined,
): Promise<ObjectInfo> {
  return retryObjectCall(
    () => (Buffer.isBuffer(body) ? objects.put(key, body, options) : open(body)),
    policy,
    onRetry,
  );

  async function open(make: () => Readable | Promise<Readable>): Promise<ObjectInfo> {
    return objects.put(key, await make(), options);
  }
}

/** Runs an object-store call until it succeeds, a final error, or `policy.attempts` failures. */
export async function retryObjectCall<T>(
  call: () => Promise<T>,
  policy: ObjectRetryPolicy,
  onRetry: (error: unknown, attempt: number) => void = () => undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= policy.attempts || !isTransientObjectError(error)) throw error;
      onRetry(error, attempt);
      await sleep(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}
