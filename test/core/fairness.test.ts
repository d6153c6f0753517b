import { describe, expect, it } from 'vitest';
import { decideQuota, type Quotas } from '../../src/core/index.js';

const NOW = Date.parse('2026-01-01T00:01:00.000Z');
const none: Quotas = { maxRunning: null, maxQueued: null, ratePerMinute: null };

describe('decideQuota', () => {
  it('admits anything without quotas', () => {
    expect(
      decideQuota(none, { queued: 10_000, submittedInWindow: 10_000, windowFullSinceMs: null }, 1000, NOW),
    ).toEqual({
      ok: true,
    });
  });

  it('refuses past maxQueued, counting every item of a batch, and names the limit', () => {
    const quotas = { ...none, maxQueued: 10 };
    const backlog = { queued: 8, submittedInWindow: 0, windowFullSinceMs: null };
    expect(decideQuota(quotas, backlog, 2, NOW)).toEqual({ ok: true });
    expect(decideQuota(quotas, backlog, 3, NOW)).toMatchObject({
      ok: false,
      code: 'quota_exceeded',
      message: expect.stringContaining('maxQueued of 10'),
    });
  });

  it('refuses past ratePerMinute until the submission that must leave the window is a minute old', () => {
    const quotas = { ...none, ratePerMinute: 5 };
    const full = { queued: 0, submittedInWindow: 5, windowFullSinceMs: NOW - 45_500 };
    expect(decideQuota(quotas, full, 1, NOW)).toMatchObject({
      ok: false,
      code: 'rate_limited',
      retryAfterSeconds: 15,
    });
    expect(decideQuota(quotas, { ...full, submittedInWindow: 4 }, 1, NOW)).toEqual({ ok: true });
  });

  it('answers a batch larger than the whole rate with a full window to wait', () => {
    const quotas = { ...none, ratePerMinute: 5 };
    const empty = { queued: 0, submittedInWindow: 0, windowFullSinceMs: null };
    expect(decideQuota(quotas, empty, 6, NOW)).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 60 });
  });
});
