import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** First pause after a failed store write; doubles per attempt up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_STORE_RETRY: RetryPolicy = { baseDelayMs: 25, maxDelayMs: 2_000 };

/**
 * Runs a store write until it succeeds. A run's result must not be lost to a store blip, and nothing that
 * holds the only copy of the output may be removed before it is stored, so a write is retried for as long as
 * the server runs; `giveUp` (asked after each failure) ends it, e.g. once the server is stopping.
 */
export async function persistently<T>(
  task: () => Promise<T>,
  policy: RetryPolicy,
  onFailure: (error: unknown, attempt: number) => void,
  giveUp: (attempt: number) => boolean,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (error) {
      onFailure(error, attempt);
      if (giveUp(attempt)) throw error;
      await sleep(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}
