import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import type { ConformanceContext } from './conformance.js';
import { claimFor, dispatchOf, moveTo, queuedEvaluation } from './fixtures.js';

/**
 * Held claims (`dispatch` answers `hold`: a run that waits for an outside admission, a Kueue-suspended Job):
 * owned but still `queued`, they hold a slot, no claim takes them again, and they are orphans when their
 * owner's lease runs out.
 */
export function describeHoldConformance({ store }: ConformanceContext): void {
  async function queued(offsetMs: number): Promise<Evaluation> {
    const submittedAt = new Date(Date.parse('2026-01-01T00:00:00.000Z') + offsetMs).toISOString();
    const evaluation = queuedEvaluation({
      createdAt: submittedAt,
      timings: { submittedAt, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
    });
    await store().create(evaluation);
    return evaluation;
  }

  const hold = () => 'hold' as const;

  describe('held claims', () => {
    it('owns a held evaluation without a transition: it stays queued, and no claim takes it again', async () => {
      const first = await queued(0);
      const second = await queued(1);
      const claimed = await store().claimQueued(claimFor('r1', { max: 1, dispatch: hold }));
      expect(claimed).toEqual([{ evaluation: first, transition: null }]);
      expect(await store().get(first.id)).toEqual(first);
      expect(await store().transitionsOf(first.id)).toEqual([expect.objectContaining({ to: 'queued' })]);
      expect(await store().listOwned('r1', ['queued'])).toEqual([first]);

      // The next claim, by this replica or another, passes over the held one.
      const next = await store().claimQueued(claimFor('r2'));
      expect(next.map((c) => c.evaluation.id)).toEqual([second.id]);
      expect(await store().claimQueued(claimFor('r2'))).toEqual([]);
      expect((await store().get(first.id))?.status).toBe('queued');
    });

    it('counts held evaluations against the global limit, and frees the slot when they move on', async () => {
      const held = await queued(0);
      const waiting = await queued(1);
      await store().claimQueued(claimFor('r1', { max: 1, dispatch: hold }));
      expect(await store().claimQueued(claimFor('r2', { globalConcurrency: 1 }))).toEqual([]);
      // Admitted: queued → starting by its owner (a compare-and-set like any other), still one slot.
      expect(await store().saveTransition(dispatchOf(held))).not.toBeNull();
      expect(await store().claimQueued(claimFor('r2', { globalConcurrency: 1 }))).toEqual([]);
      const ended = await store().get(held.id);
      expect(await store().saveTransition(moveTo(ended!, 'succeeded'))).not.toBeNull();
      const claimed = await store().claimQueued(claimFor('r2', { globalConcurrency: 1 }));
      expect(claimed.map((c) => c.evaluation.id)).toEqual([waiting.id]);
    });

    it('mixes held and dispatched claims in one claim, up to max', async () => {
      const created = [await queued(0), await queued(1), await queued(2), await queued(3)];
      const claimed = await store().claimQueued(
        claimFor('r1', {
          max: 3,
          dispatch: (e) => (e.id === created[1]!.id ? dispatchOf(e) : 'hold'),
        }),
      );
      expect(claimed.map((c) => c.evaluation.id).sort()).toEqual(
        created
          .slice(0, 3)
          .map((e) => e.id)
          .sort(),
      );
      expect(claimed.find((c) => c.evaluation.id === created[1]!.id)?.transition?.to).toBe('starting');
      expect(claimed.filter((c) => c.transition === null)).toHaveLength(2);
      expect((await store().get(created[3]!.id))?.status).toBe('queued');
      expect((await store().listOwned('r1', ['queued'])).map((e) => e.id)).toEqual([
        created[0]!.id,
        created[2]!.id,
      ]);
    });

    it('queueCounts counts held evaluations as queued, and says how many await admission', async () => {
      await queued(0);
      await queued(1);
      await queued(2);
      await store().claimQueued(claimFor('r1', { max: 1, dispatch: hold }));
      await store().claimQueued(claimFor('r1', { max: 1 }));
      expect(await store().queueCounts()).toEqual({
        queued: { low: 0, normal: 2, high: 0 },
        active: 1,
        awaitingAdmission: 1,
      });
    });

    it('a held evaluation is an orphan once its owner’s lease runs out; unowned queued ones never are', async () => {
      await store().renewLease('r1', 60_000);
      const held = await queued(0);
      await queued(1);
      await store().claimQueued(claimFor('r1', { max: 1, dispatch: hold }));
      expect(await store().listOrphans()).toEqual([]);
      await store().dropLease('r1');
      expect(await store().listOrphans()).toEqual([{ evaluation: held, owner: 'r1' }]);
      expect(await store().transferOwnership(held.id, 'r1', 'heir')).toBe(true);
      await store().renewLease('heir', 60_000);
      expect(await store().listOrphans()).toEqual([]);
      expect(await store().listOwned('heir', ['queued'])).toEqual([held]);
    });

    it('a held evaluation can be cancelled like any queued one (compare-and-set on the status)', async () => {
      const held = await queued(0);
      await store().claimQueued(claimFor('r1', { dispatch: hold }));
      expect(await store().saveTransition(moveTo(held, 'cancelled'))).toMatchObject({
        from: 'queued',
        to: 'cancelled',
      });
      expect(await store().saveTransition(dispatchOf(held))).toBeNull();
      expect(await store().queueCounts()).toMatchObject({ awaitingAdmission: 0 });
    });
  });
}
