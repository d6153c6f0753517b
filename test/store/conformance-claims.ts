import { describe, expect, it } from 'vitest';
import type { Evaluation, Priority } from '../../src/core/index.js';
import type { Claimed } from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { claimFor, dispatchOf, moveTo, queuedEvaluation } from './fixtures.js';

const AGING_MS = 30_000;
const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');

/** Claiming, queue counts, leases and ownership: the rules every adapter shares, shared or not. */
export function describeClaimConformance({ store }: ConformanceContext): void {
  async function queued(priority: Priority, submittedOffsetMs = 0, code = 'print(1)'): Promise<Evaluation> {
    const submittedAt = new Date(BASE_MS + submittedOffsetMs).toISOString();
    const evaluation = queuedEvaluation({
      priority,
      code,
      createdAt: submittedAt,
      timings: { submittedAt, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
    });
    await store().create(evaluation);
    return evaluation;
  }

  async function activate(evaluation: Evaluation, to: 'starting' | 'running' = 'running'): Promise<void> {
    expect(await store().saveTransition(moveTo(evaluation, to))).not.toBeNull();
  }

  const ids = (claimed: readonly Claimed[]) => claimed.map((c) => c.evaluation.id);

  describe('claimQueued', () => {
    it('claims in queue order: submitted time + rank × aging, ties in creation order', async () => {
      // Keys (ms after BASE): tie60k 60000, low 60000, lowTwin 60000, normal 31000, high 2000, lateHigh 40000,
      // agedNormal -10000. The three 60000s go in creation order whatever their priority.
      const tie60k = await queued('high', 60_000);
      const low = await queued('low', 0);
      const normal = await queued('normal', 1_000);
      const high = await queued('high', 2_000);
      const lateHigh = await queued('high', 40_000);
      const agedNormal = await queued('normal', -40_000);
      const lowTwin = await queued('low', 0);
      const claimed = await store().claimQueued(claimFor('r1', { agingMs: AGING_MS }));
      expect(ids(claimed)).toEqual(
        [agedNormal, high, normal, lateHigh, tie60k, low, lowTwin].map((e) => e.id),
      );
    });

    it('orders by submitted time alone when aging is 0 (priority only breaks no ties)', async () => {
      const late = await queued('high', 5);
      const early = await queued('low', 1);
      const middle = await queued('normal', 3);
      const claimed = await store().claimQueued(claimFor('r1', { agingMs: 0 }));
      expect(ids(claimed)).toEqual([early.id, middle.id, late.id]);
    });

    it('claims at most `max`, and the next claim continues where it stopped', async () => {
      const created = [];
      for (let i = 0; i < 5; i++) created.push(await queued('normal', i));
      expect(await store().claimQueued(claimFor('r1', { max: 0 }))).toEqual([]);
      const first = await store().claimQueued(claimFor('r1', { max: 2 }));
      const second = await store().claimQueued(claimFor('r1', { max: 2 }));
      const third = await store().claimQueued(claimFor('r1', { max: 2 }));
      expect([ids(first), ids(second), ids(third)]).toEqual([
        [created[0]!.id, created[1]!.id],
        [created[2]!.id, created[3]!.id],
        [created[4]!.id],
      ]);
      expect(await store().claimQueued(claimFor('r1'))).toEqual([]);
    });

    it('never lets the active count pass the global limit', async () => {
      const running = [await queued('high', 0), await queued('high', 1), await queued('high', 2)];
      await activate(running[0]!, 'starting');
      await activate(running[1]!);
      await activate(running[2]!);
      const waiting = [];
      for (let i = 0; i < 4; i++) waiting.push(await queued('normal', 10 + i));
      const claimed = await store().claimQueued(claimFor('r1', { max: 10, globalConcurrency: 5 }));
      expect(ids(claimed)).toEqual([waiting[0]!.id, waiting[1]!.id]);
      expect(await store().claimQueued(claimFor('r1', { globalConcurrency: 5 }))).toEqual([]);
      // Already over the limit (it was lowered): nothing, not a negative count.
      expect(await store().claimQueued(claimFor('r1', { globalConcurrency: 2 }))).toEqual([]);
      await store().saveTransition(moveTo({ ...running[1]!, status: 'running' }, 'succeeded'));
      expect(ids(await store().claimQueued(claimFor('r1', { globalConcurrency: 5 })))).toEqual([
        waiting[2]!.id,
      ]);
    });

    it('takes the largest safe integer as "no global limit"', async () => {
      const waiting = [await queued('normal', 0), await queued('low', 1)];
      const claimed = await store().claimQueued(
        claimFor('r1', { max: 10, globalConcurrency: Number.MAX_SAFE_INTEGER }),
      );
      expect(ids(claimed).sort()).toEqual(waiting.map((e) => e.id).sort());
    });

    it('offers only queued evaluations to dispatch', async () => {
      const cancelled = await queued('high', 0);
      await store().saveTransition(moveTo(cancelled, 'cancelled'));
      const running = await queued('high', 1);
      await activate(running);
      const waiting = await queued('low', 2);
      const offered: string[] = [];
      const claimed = await store().claimQueued(
        claimFor('r1', {
          dispatch: (e) => {
            offered.push(e.id);
            return dispatchOf(e);
          },
        }),
      );
      expect(offered).toEqual([waiting.id]);
      expect(ids(claimed)).toEqual([waiting.id]);
      expect((await store().get(cancelled.id))?.status).toBe('cancelled');
    });

    it('writes the dispatch, its transition and the owner in one step', async () => {
      const evaluation = await queued('normal');
      const [claimed] = await store().claimQueued(
        claimFor('replica-a', {
          dispatch: (e) => dispatchOf({ ...e, runtime: 'kubernetes' }),
        }),
      );
      expect(claimed!.evaluation).toMatchObject({
        id: evaluation.id,
        status: 'starting',
        runtime: 'kubernetes',
      });
      expect(claimed!.evaluation.timings.dispatchedAt).not.toBeNull();
      expect(await store().get(evaluation.id)).toEqual(claimed!.evaluation);
      expect(claimed!.transition).toMatchObject({
        evaluationId: evaluation.id,
        from: 'queued',
        to: 'starting',
      });
      expect(await store().transitionsOf(evaluation.id)).toEqual([
        expect.objectContaining({ to: 'queued' }),
        claimed!.transition,
      ]);
      expect(await store().latestTransitionSeq()).toBe(claimed!.transition!.seq);
      expect(await store().listOwned('replica-a', ['starting'])).toEqual([claimed!.evaluation]);
    });

    it('leaves an evaluation queued when dispatch declines it, and claims the next instead', async () => {
      const declined = await queued('normal', 0);
      const next = await queued('normal', 1);
      const after = await queued('normal', 2);
      const claimed = await store().claimQueued(
        claimFor('r1', { max: 2, dispatch: (e) => (e.id === declined.id ? null : dispatchOf(e)) }),
      );
      expect(ids(claimed)).toEqual([next.id, after.id]);
      expect((await store().get(declined.id))?.status).toBe('queued');
    });

    it('writes nothing when dispatch returns something other than a dispatch of that evaluation', async () => {
      const first = await queued('normal', 0);
      const second = await queued('normal', 1);
      const attempt = store().claimQueued(
        claimFor('r1', { dispatch: (e) => (e.id === first.id ? dispatchOf(e) : moveTo(e, 'cancelled')) }),
      );
      await expect(attempt).rejects.toThrow(/must return a transition/);
      expect((await store().get(first.id))?.status).toBe('queued');
      expect((await store().get(second.id))?.status).toBe('queued');
      expect(await store().transitionsAfter(0, 10)).toHaveLength(2);
    });

    it('never both claims and cancels an evaluation when a cancel races the claims', async () => {
      const created: Evaluation[] = [];
      for (let i = 0; i < 20; i++) created.push(await queued('normal', i));
      const claimed: Claimed[] = [];
      const claiming = (async () => {
        for (let round = 0; round < 20; round++) {
          claimed.push(...(await store().claimQueued(claimFor('r1', { max: 2 }))));
        }
      })();
      const cancels = await Promise.all(created.map((e) => store().saveTransition(moveTo(e, 'cancelled'))));
      await claiming;
      for (const [i, evaluation] of created.entries()) {
        const wasClaimed = claimed.some((c) => c.evaluation.id === evaluation.id);
        expect(wasClaimed).toBe(cancels[i] === null);
        expect((await store().get(evaluation.id))?.status).toBe(wasClaimed ? 'starting' : 'cancelled');
        expect(await store().transitionsOf(evaluation.id)).toHaveLength(2);
      }
    });

    it('refuses a negative or fractional count', async () => {
      await expect(store().claimQueued(claimFor('r1', { max: -1 }))).rejects.toBeInstanceOf(RangeError);
      await expect(store().claimQueued(claimFor('r1', { globalConcurrency: 1.5 }))).rejects.toBeInstanceOf(
        RangeError,
      );
    });
  });

  it('queueCounts counts queued by priority and active across owners', async () => {
    expect(await store().queueCounts()).toEqual({
      queued: { low: 0, normal: 0, high: 0 },
      active: 0,
      awaitingAdmission: 0,
    });
    await queued('high', 0);
    await queued('high', 1);
    await queued('low', 2);
    const done = await queued('normal', 3);
    await store().saveTransition(moveTo(done, 'cancelled'));
    await activate(await queued('normal', 4), 'starting');
    await store().claimQueued(claimFor('r2', { max: 1 }));
    expect(await store().queueCounts()).toEqual({
      queued: { low: 1, normal: 0, high: 1 },
      active: 2,
      awaitingAdmission: 0,
    });
  });

  describe('leases, orphans and ownership', () => {
    async function claimedBy(owner: string, offsetMs: number): Promise<Evaluation> {
      const evaluation = await queued('normal', offsetMs);
      const [claimed] = await store().claimQueued(claimFor(owner, { max: 1 }));
      expect(claimed?.evaluation.id).toBe(evaluation.id);
      return claimed!.evaluation;
    }

    it('lists active evaluations whose owner holds no live lease, oldest first', async () => {
      await store().renewLease('alive', 60_000);
      await store().renewLease('lapsed', 0);
      const ownerless = await queued('normal', 0);
      await activate(ownerless);
      const mine = await claimedBy('alive', 1);
      const lapsed = await claimedBy('lapsed', 2);
      const gone = await claimedBy('never-leased', 3);
      await store().saveTransition(moveTo(mine, 'running'));
      await store().saveTransition(moveTo(await claimedBy('never-leased', 4), 'succeeded'));
      await queued('normal', 5);

      const orphans = await store().listOrphans();
      expect(orphans.map((o) => [o.evaluation.id, o.owner])).toEqual([
        [ownerless.id, null],
        [lapsed.id, 'lapsed'],
        [gone.id, 'never-leased'],
      ]);
      expect(orphans[1]!.evaluation).toEqual(await store().get(lapsed.id));
    });

    it('a renewed lease keeps its work; a dropped one orphans it at once', async () => {
      await store().renewLease('r1', 0);
      await store().renewLease('r1', 60_000);
      const evaluation = await claimedBy('r1', 0);
      expect(await store().listOrphans()).toEqual([]);
      await store().dropLease('r1');
      expect(await store().listOrphans()).toEqual([{ evaluation, owner: 'r1' }]);
      await store().dropLease('nobody');
    });

    it('listOwned returns one owner’s evaluations in the asked statuses, oldest first', async () => {
      const a1 = await claimedBy('a', 0);
      await claimedBy('b', 1);
      const a2 = await claimedBy('a', 2);
      await store().saveTransition(moveTo(a2, 'running'));
      const a3 = await claimedBy('a', 3);
      await store().saveTransition(moveTo(a3, 'failed'));
      expect((await store().listOwned('a', ['starting', 'running'])).map((e) => e.id)).toEqual([
        a1.id,
        a2.id,
      ]);
      expect((await store().listOwned('a', ['failed'])).map((e) => e.id)).toEqual([a3.id]);
      expect(await store().listOwned('a', [])).toEqual([]);
      expect(await store().listOwned('c', ['starting'])).toEqual([]);
    });

    it('transferOwnership is a compare-and-set on the owner, ownerless rows included', async () => {
      await store().renewLease('heir', 60_000);
      const evaluation = await claimedBy('dead', 0);
      expect(await store().transferOwnership(evaluation.id, 'someone-else', 'heir')).toBe(false);
      expect(await store().transferOwnership(evaluation.id, 'dead', 'heir')).toBe(true);
      expect(await store().transferOwnership(evaluation.id, 'dead', 'other')).toBe(false);
      expect((await store().listOwned('heir', ['starting'])).map((e) => e.id)).toEqual([evaluation.id]);
      expect(await store().listOrphans()).toEqual([]);

      const ownerless = await queued('normal', 1);
      await activate(ownerless);
      expect(await store().transferOwnership(ownerless.id, null, 'heir')).toBe(true);
      expect(await store().transferOwnership('ev_missing', null, 'heir')).toBe(false);
    });
  });
}
