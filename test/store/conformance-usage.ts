import { describe, expect, it } from 'vitest';
import type { Evaluation, Result, Status } from '../../src/core/index.js';
import type { UsageGroup, UsageStore } from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { moveTo, queuedEvaluation, succeededResult } from './fixtures.js';

const MIB = 1024 * 1024;

function result(durationMs: number | null, cpuTimeMs: number | null, peakMemoryBytes: number | null): Result {
  return succeededResult({ durationMs, cpuTimeMs, peakMemoryBytes });
}

const zeros = { succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, error: 0 };

/** Usage summed in the database: what both adapters must answer alike. */
export function describeUsageConformance({ store }: ConformanceContext): void {
  const usage = (): UsageStore => {
    const found = store().usage;
    if (!found) throw new Error('this adapter keeps no usage');
    return found;
  };

  /** Creates an evaluation and ends it with `status` at `finishedAt`, with these figures. */
  async function finished(
    finishedAt: string,
    status: Status,
    figures: Result | null,
    overrides: Partial<Evaluation> = {},
  ): Promise<Evaluation> {
    const e = queuedEvaluation(overrides);
    await store().create(e);
    const timings = { ...e.timings, startedAt: e.timings.submittedAt, finishedAt, storedAt: finishedAt };
    await store().saveTransition(moveTo(e, status, { timings, result: figures }));
    return e;
  }

  const from = '2026-03-01T00:00:00.000Z';
  const to = '2026-03-02T00:00:00.000Z';

  describe('usage', () => {
    it('sums wall, CPU and memory × time per user over evaluations finished in [from, to)', async () => {
      await finished('2026-03-01T00:00:00.000Z', 'succeeded', result(2000, 1500, 64 * MIB), {
        user: 'alice',
      });
      await finished('2026-03-01T12:00:00.000Z', 'failed', result(1000, 250, 32 * MIB), { user: 'alice' });
      await finished('2026-03-01T13:00:00.000Z', 'timed_out', result(4000, 4000, 16 * MIB), { user: 'bob' });
      // No figures at all (a platform error before the start): counted, adds nothing.
      await finished('2026-03-01T14:00:00.000Z', 'error', null, { user: 'bob' });
      // Submitted while authentication was off: key null.
      await finished('2026-03-01T15:00:00.000Z', 'cancelled', result(500, null, null));
      // Outside the range: `to` is exclusive, and before `from`.
      await finished(to, 'succeeded', result(9000, 9000, MIB), { user: 'alice' });
      await finished('2026-02-28T23:59:59.999Z', 'succeeded', result(9000, 9000, MIB), { user: 'alice' });
      // Not finished: never counted.
      await store().create(queuedEvaluation({ user: 'alice' }));

      const groups = await usage().usage({ from, to, groupBy: 'user' });
      expect(groups).toEqual<UsageGroup[]>([
        {
          key: 'alice',
          evaluations: 2,
          byStatus: { ...zeros, succeeded: 1, failed: 1 },
          wallSeconds: 3,
          cpuSeconds: 1.75,
          memoryMbSeconds: 64 * 2 + 32 * 1,
        },
        {
          key: 'bob',
          evaluations: 2,
          byStatus: { ...zeros, timed_out: 1, error: 1 },
          wallSeconds: 4,
          cpuSeconds: 4,
          memoryMbSeconds: 64,
        },
        {
          key: null,
          evaluations: 1,
          byStatus: { ...zeros, cancelled: 1 },
          wallSeconds: 0.5,
          cpuSeconds: 0,
          memoryMbSeconds: 0,
        },
      ]);
    });

    it("groups by a label's value, evaluations without it under null, and filters by user", async () => {
      const at = '2026-03-01T10:00:00.000Z';
      await finished(at, 'succeeded', result(1000, 1000, MIB), { user: 'alice', labels: { team: 'red' } });
      await finished(at, 'succeeded', result(3000, 1000, MIB), {
        user: 'bob',
        labels: { team: 'red', x: 'y' },
      });
      await finished(at, 'failed', result(1000, 500, 2 * MIB), { user: 'alice', labels: { team: 'blue' } });
      await finished(at, 'succeeded', result(1000, 0, MIB), { user: 'alice', labels: { other: 'red' } });

      const all = await usage().usage({ from, to, groupBy: { label: 'team' } });
      expect(all.map((g) => [g.key, g.evaluations, g.wallSeconds, g.cpuSeconds, g.memoryMbSeconds])).toEqual([
        ['blue', 1, 1, 0.5, 2],
        ['red', 2, 4, 2, 4],
        [null, 1, 1, 0, 1],
      ]);

      const alices = await usage().usage({ from, to, groupBy: { label: 'team' }, user: 'alice' });
      expect(alices.map((g) => [g.key, g.evaluations])).toEqual([
        ['blue', 1],
        ['red', 1],
        [null, 1],
      ]);
      expect(await usage().usage({ from, to, groupBy: 'user', user: 'carol' })).toEqual([]);
    });

    it('answers nothing for a range with no finished evaluations', async () => {
      await finished('2026-03-05T00:00:00.000Z', 'succeeded', result(1, 1, 1), { user: 'alice' });
      expect(await usage().usage({ from, to, groupBy: 'user' })).toEqual([]);
    });
  });
}
