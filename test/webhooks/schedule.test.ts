import { describe, expect, it } from 'vitest';
import {
  attemptOffsetsMs,
  nominalDelayMs,
  WEBHOOK_MAX_ATTEMPTS,
  webhookRetryDelayMs,
} from '../../src/core/index.js';

const shortest = (failed: number) => webhookRetryDelayMs(failed, 0);
const longest = (failed: number) => webhookRetryDelayMs(failed, 0.999999);

describe('webhook retry schedule', () => {
  it('starts near one second and grows exponentially up to an hour', () => {
    expect(nominalDelayMs(1)).toBe(1_000);
    expect(nominalDelayMs(2)).toBe(4_000);
    expect(nominalDelayMs(3)).toBe(16_000);
    expect(nominalDelayMs(20)).toBe(3_600_000);
    expect(shortest(1)).toBe(750);
    expect(longest(1)).toBe(1_250);
  });

  it('puts the first four attempts within two minutes, even with the longest jitter', () => {
    const offsets = attemptOffsetsMs(longest);
    expect(offsets[3]).toBeLessThan(120_000);
  });

  it('makes at least eight attempts over at least half an hour, even with the shortest jitter', () => {
    const offsets = attemptOffsetsMs(shortest);
    expect(offsets.length).toBeGreaterThanOrEqual(8);
    expect(offsets[7]).toBeGreaterThanOrEqual(30 * 60_000);
  });

  it('gives up after the last attempt', () => {
    expect(attemptOffsetsMs(shortest)).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
    expect(webhookRetryDelayMs(WEBHOOK_MAX_ATTEMPTS - 1, 0.5)).not.toBeNull();
    expect(webhookRetryDelayMs(WEBHOOK_MAX_ATTEMPTS, 0.5)).toBeNull();
  });

  it('jitters: two draws of the same attempt differ, always within ±25 %', () => {
    const draws = Array.from({ length: 50 }, () => webhookRetryDelayMs(5)!);
    expect(new Set(draws).size).toBeGreaterThan(1);
    for (const draw of draws) {
      expect(draw).toBeGreaterThanOrEqual(nominalDelayMs(5) * 0.75);
      expect(draw).toBeLessThanOrEqual(nominalDelayMs(5) * 1.25);
    }
  });

  it('refuses a failure count that is not a positive integer', () => {
    expect(() => webhookRetryDelayMs(0)).toThrow(RangeError);
  });
});
