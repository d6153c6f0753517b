/**
 * When a webhook delivery is tried again. Exponential backoff from 1 s by a factor of 4, capped at an hour,
 * with ±25 % jitter so receivers that come back after an outage are not hit by every sender at once:
 *
 *   attempt      1    2    3     4     5      6       7       8      9 … 12
 *   nominal at   0    1 s  5 s   21 s  85 s   5.7 m   22.8 m  82.8 m  +1 h each (last at ≈ 5.4 h)
 *
 * With the jitter at its extremes, the first four attempts are within 27 s (the contract: two minutes) and
 * the eighth is at least 62 minutes after the first (the contract: eight over at least half an hour).
 */

/** Attempts in all, the first included; after the last failure the delivery is given up. */
export const WEBHOOK_MAX_ATTEMPTS = 12;
export const WEBHOOK_FIRST_RETRY_MS = 1_000;
export const WEBHOOK_RETRY_FACTOR = 4;
export const WEBHOOK_MAX_RETRY_MS = 3_600_000;
/** The jitter's half-width, as a fraction of the nominal delay. */
export const WEBHOOK_RETRY_JITTER = 0.25;

/**
 * The delay before the next attempt once `failedAttempts` attempts (1 or more) have failed, or null when
 * none is left. A schedule is any function of this shape: tests inject one that does not wait.
 */
export type RetrySchedule = (failedAttempts: number) => number | null;

/**
 * The default schedule. `random` (0 ≤ random < 1, default Math.random) picks the point in the jitter band:
 * 0 the shortest delay, 1 the longest.
 */
export function webhookRetryDelayMs(failedAttempts: number, random: number = Math.random()): number | null {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1) {
    throw new RangeError(`failedAttempts must be a positive integer, got ${failedAttempts}`);
  }
  if (failedAttempts >= WEBHOOK_MAX_ATTEMPTS) return null;
  return Math.round(
    nominalDelayMs(failedAttempts) * (1 - WEBHOOK_RETRY_JITTER + 2 * WEBHOOK_RETRY_JITTER * random),
  );
}

/** The delay before the next attempt after `failedAttempts` failures, without jitter. */
export function nominalDelayMs(failedAttempts: number): number {
  return Math.min(
    WEBHOOK_MAX_RETRY_MS,
    WEBHOOK_FIRST_RETRY_MS * WEBHOOK_RETRY_FACTOR ** (failedAttempts - 1),
  );
}

/** When each attempt happens, in ms after the first, if every one fails (for the docs' table and tests). */
export function attemptOffsetsMs(schedule: RetrySchedule): number[] {
  const offsets = [0];
  for (let failed = 1; ; failed++) {
    const delay = schedule(failed);
    if (delay === null) return offsets;
    offsets.push(offsets[offsets.length - 1]! + delay);
  }
}
