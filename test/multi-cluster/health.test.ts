import { describe, expect, it } from 'vitest';
import { ClusterHealth } from '../../src/runtime/multi-cluster/health.js';

/** The health verdict from a scripted probe: misses in a row, the lost bound, recovery. */
function scripted(answers: boolean[]) {
  const events: string[] = [];
  let markLost = (): void => undefined;
  const lost = new Promise<void>((resolve) => (markLost = resolve));
  let calls = 0;
  const health = new ClusterHealth(
    async () => {
      const ok = answers[Math.min(calls, answers.length - 1)];
      calls += 1;
      if (!ok) throw new Error('connect ECONNREFUSED');
      return [];
    },
    { probeIntervalMs: 60_000, probeTimeoutMs: 200, failuresToUnreachable: 2, lostAfterMs: 50 },
    {
      unreachable: () => events.push('unreachable'),
      recovered: () => events.push('recovered'),
      lost: () => {
        events.push('lost');
        markLost();
      },
    },
  );
  return { health, events, lost };
}

describe('cluster health', () => {
  it('one miss keeps a cluster that answered before; two in a row take it out; one answer puts it back', async () => {
    const { health, events } = scripted([true, false, false, true]);
    await health.start();
    await health.check();
    expect([health.healthy, events]).toEqual([true, []]);
    await health.check();
    expect([health.healthy, health.unreachableSince, health.lastError]).toEqual([
      false,
      expect.any(Date),
      'connect ECONNREFUSED',
    ]);
    await health.check();
    expect([health.healthy, health.unreachableSince, events]).toEqual([
      true,
      null,
      ['unreachable', 'recovered'],
    ]);
    health.stop();
  });

  it('a cluster that misses its first probe starts unreachable, and is lost after the bound', async () => {
    const { health, events, lost } = scripted([false]);
    await health.start();
    expect(health.healthy).toBe(false);
    await lost;
    expect(events).toEqual(['unreachable', 'lost']);
    health.stop();
  });

  it('a probe that never answers counts as a miss after its timeout', async () => {
    const events: string[] = [];
    const health = new ClusterHealth(
      () => new Promise(() => undefined),
      { probeIntervalMs: 60_000, probeTimeoutMs: 30, failuresToUnreachable: 1, lostAfterMs: 60_000 },
      { unreachable: () => events.push('unreachable'), recovered: () => undefined, lost: () => undefined },
    );
    await health.start();
    expect([health.healthy, health.lastError, events]).toEqual([
      false,
      'no answer within 30 ms',
      ['unreachable'],
    ]);
    health.stop();
  });
});
