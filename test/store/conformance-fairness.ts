import { describe, expect, it } from 'vitest';
import { FAIR_QUANTUM, type Evaluation, type Priority } from '../../src/core/index.js';
import type { Claimed, EvaluationStore, QuotaStore } from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { claimFor, moveTo, queuedEvaluation } from './fixtures.js';

const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');

/** Fair share between users, `maxRunning` in the claim, and the quota counts (docs/scheduling.md). */
export function describeFairnessConformance({ store, options }: ConformanceContext): void {
  async function submit(
    user: string | null,
    count: number,
    { priority = 'normal', offsetMs = 0 }: { priority?: Priority; offsetMs?: number } = {},
  ): Promise<Evaluation[]> {
    const created: Evaluation[] = [];
    for (let i = 0; i < count; i++) {
      const at = new Date(BASE_MS + offsetMs).toISOString();
      const evaluation = queuedEvaluation({
        user,
        priority,
        createdAt: at,
        timings: { submittedAt: at, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
      });
      await store().create(evaluation);
      created.push(evaluation);
    }
    return created;
  }

  /** Claims with `slots` global slots until nothing is left, finishing each claimed one before the next. */
  async function drain(slots: number, limit: number, on: EvaluationStore = store()): Promise<string[]> {
    const order: string[] = [];
    for (;;) {
      const claimed = await on.claimQueued(claimFor('r1', { max: slots, globalConcurrency: slots }));
      if (claimed.length === 0 || order.length >= limit) return order;
      for (const { evaluation } of claimed) {
        order.push(evaluation.id);
        await on.saveTransition(moveTo(evaluation, 'succeeded'));
      }
    }
  }

  const ids = (evaluations: readonly Evaluation[]) => evaluations.map((e) => e.id);
  const claimedIds = (claimed: readonly Claimed[]) => claimed.map((c) => c.evaluation.id);

  describe('fair share between users', () => {
    it("claims user B's 5 before user A's next 20 when A queued 500 first (2 slots)", async () => {
      const a = await submit('a', 500);
      const first = await store().claimQueued(claimFor('r1', { max: 2, globalConcurrency: 2 }));
      expect(claimedIds(first)).toEqual(ids(a.slice(0, 2)));
      for (const { evaluation } of first) await store().saveTransition(moveTo(evaluation, 'succeeded'));
      const b = await submit('b', 5, { offsetMs: 1 });
      const order = await drain(2, 25);
      const lastB = Math.max(...ids(b).map((id) => order.indexOf(id)));
      expect(ids(b).every((id) => order.includes(id))).toBe(true);
      const aBeforeLastB = order.slice(0, lastB).filter((id) => ids(a).includes(id));
      expect(aBeforeLastB.length).toBeLessThan(20);
      // A's own stay FIFO.
      const aOrder = order.filter((id) => ids(a).includes(id));
      expect(aOrder).toEqual(ids(a.slice(2, 2 + aOrder.length)));
    });

    it('takes turns between two users with backlogs, each FIFO', async () => {
      const a = await submit('a', 4);
      const b = await submit('b', 4, { offsetMs: 1 });
      const order = await drain(1, 100);
      expect(order).toEqual([a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]].map((e) => e!.id));
    });

    it('does not penalize a user with no backlog: the first of theirs goes next', async () => {
      await submit('a', 50);
      await drain(1, 10);
      const [late] = await submit('c', 1, { offsetMs: 5 });
      const [next] = await store().claimQueued(claimFor('r1', { max: 1 }));
      expect(next?.evaluation.id).toBe(late!.id);
    });

    it('keeps priorities and aging across users', async () => {
      await submit('a', 10, { priority: 'normal' });
      const [high] = await submit('b', 1, { priority: 'high', offsetMs: 10 });
      const [aHigh] = await submit('a', 1, { priority: 'high', offsetMs: 20 });
      // Waited past two aging intervals (30 s each): beats the fresh normal ones, of any user.
      const [agedLow] = await submit('c', 1, { priority: 'low', offsetMs: -61_000 });
      const claimed = claimedIds(await store().claimQueued(claimFor('r1', { max: 3 })));
      expect(claimed).toEqual([agedLow!.id, high!.id, aHigh!.id]);
    });

    it.skipIf(!options.reopen)('keeps the fair order across a reopen', async () => {
      const a = await submit('a', 3);
      const b = await submit('b', 3, { offsetMs: 1 });
      await store().close();
      const reopened = await options.reopen!(store());
      await reopened.migrate();
      try {
        expect(await drain(1, 100, reopened)).toEqual([a[0], b[0], a[1], b[1], a[2], b[2]].map((e) => e!.id));
      } finally {
        await reopened.close();
      }
    });
  });

  describe('maxRunning', () => {
    it('never lets a user pass it: theirs wait, others are claimed past them', async () => {
      const a = await submit('a', 6);
      const b = await submit('b', 3, { offsetMs: 1 });
      const limits = { a: 2 };
      const first = await store().claimQueued(claimFor('r1', { max: 10, maxRunning: limits }));
      expect(claimedIds(first).sort()).toEqual([...ids(a.slice(0, 2)), ...ids(b)].sort());
      expect(await store().claimQueued(claimFor('r1', { max: 10, maxRunning: limits }))).toEqual([]);
      await store().saveTransition(
        moveTo(first.find((c) => c.evaluation.id === a[0]!.id)!.evaluation, 'succeeded'),
      );
      const next = await store().claimQueued(claimFor('r1', { max: 10, maxRunning: limits }));
      expect(claimedIds(next)).toEqual([a[2]!.id]);
    });

    it("passes over a blocked user's long backlog to others' heads and the anonymous rows, in order", async () => {
      // More of a's rows than a claim reads before it switches to each other user's head (PROBE_SLACK).
      const a = await submit('a', 120);
      const limits = { a: 1 };
      const [running] = await store().claimQueued(claimFor('r1', { max: 1, maxRunning: limits }));
      expect(running?.evaluation.id).toBe(a[0]!.id);
      // b's 40 served while a waits move the fair clock 40 turns on: the next users' rows then sort after
      // most of a's backlog (c's from turn 40; the anonymous rows by their time, turn 60).
      const served = await submit('b', 40, { offsetMs: 1 });
      for (const { evaluation } of await store().claimQueued(
        claimFor('r1', { max: 40, maxRunning: limits }),
      )) {
        await store().saveTransition(moveTo(evaluation, 'succeeded'));
      }
      expect((await store().listByStatus(['succeeded'])).map((e) => e.id).sort()).toEqual(ids(served).sort());
      const c = await submit('c', 3, { offsetMs: 2 });
      const anonymous = await submit(null, 2, { offsetMs: 60 * FAIR_QUANTUM });
      const e = await submit('e', 3, { offsetMs: 3 });
      const high = await submit('d', 1, { offsetMs: 4, priority: 'high' });
      const others = [...c, ...anonymous, ...e, ...high];
      const firstThree = await store().claimQueued(claimFor('r1', { max: 3, maxRunning: limits }));
      expect(firstThree).toHaveLength(3);
      const rest = await store().claimQueued(claimFor('r1', { max: 20, maxRunning: limits }));
      const order = [...claimedIds(firstThree), ...claimedIds(rest)];
      expect([...order].sort()).toEqual(ids(others).sort());
      expect(order[0]).toBe(high[0]!.id);
      for (const own of [c, anonymous, e]) {
        expect(order.filter((id) => ids(own).includes(id))).toEqual(ids(own));
      }
      expect(await store().claimQueued(claimFor('r1', { max: 20, maxRunning: limits }))).toEqual([]);
      // a's turn comes back as soon as its run ends, at the head of its backlog.
      await store().saveTransition(moveTo(running!.evaluation, 'succeeded'));
      const next = await store().claimQueued(claimFor('r1', { max: 20, maxRunning: limits }));
      expect(claimedIds(next)).toEqual([a[1]!.id]);
    });

    it('holds at the limit over many claims, checked from stored timestamps', async () => {
      await submit('a', 12);
      await submit('b', 6, { offsetMs: 1 });
      let clock = BASE_MS;
      const tick = () => new Date(++clock).toISOString();
      const stamp = (e: Evaluation) =>
        moveTo(e, 'starting', { timings: { ...e.timings, dispatchedAt: tick() } });
      for (let round = 0; round < 30; round++) {
        await store().claimQueued(
          claimFor('r1', { max: 3, globalConcurrency: 4, maxRunning: { a: 2 }, dispatch: stamp }),
        );
        // Finish the oldest active one, so slots free one at a time.
        const [done] = await store().listByStatus(['starting']);
        if (!done) break;
        await store().saveTransition(
          moveTo(done, 'succeeded', { timings: { ...done.timings, finishedAt: tick() } }),
        );
      }
      const all = (await store().listByStatus(['succeeded', 'starting'])).filter((e) => e.user === 'a');
      expect(all.length).toBeGreaterThan(2);
      const events = all.flatMap((e) => [
        { at: Date.parse(e.timings.dispatchedAt!), delta: 1 },
        ...(e.timings.finishedAt ? [{ at: Date.parse(e.timings.finishedAt), delta: -1 }] : []),
      ]);
      events.sort((x, y) => x.at - y.at || x.delta - y.delta);
      let running = 0;
      let peak = 0;
      for (const { delta } of events) peak = Math.max(peak, (running += delta));
      expect(peak).toBe(2);
    });
  });

  describe('quota counts', () => {
    const quotas = (): QuotaStore => {
      const q = store().quotas;
      if (!q) throw new Error('the adapter has no QuotaStore');
      return q;
    };

    it("counts a user's queued and their submissions in the window, newest first", async () => {
      await submit('a', 3, { offsetMs: 0 });
      await submit('a', 2, { offsetMs: 10_000 });
      const [claimed] = await submit('a', 1, { offsetMs: 20_000 });
      await store().saveTransition(moveTo(claimed!, 'starting'));
      await submit('b', 4, { offsetMs: 20_000 });
      expect(await quotas().userBacklog('a', BASE_MS + 5_000, 2)).toEqual({
        queued: 5,
        submittedInWindow: 3,
        windowFullSinceMs: BASE_MS + 10_000,
      });
      expect(await quotas().userBacklog('a', BASE_MS, 7)).toMatchObject({ windowFullSinceMs: null });
      expect(await quotas().userBacklog('nobody', BASE_MS, 1)).toEqual({
        queued: 0,
        submittedInWindow: 0,
        windowFullSinceMs: null,
      });
    });
  });
}
