import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import type { Claimed, EvaluationStore, StoreChange } from '../../src/store/store.js';
import { eventually } from '../runtime/tracked.js';
import type { ConformanceContext } from './conformance.js';
import { chunk, claimFor, moveTo, queuedEvaluation } from './fixtures.js';

/**
 * Two store objects on one database, as two replicas: only for adapters that say they are `shared` and give a
 * way to open a sibling.
 */
export function describeSharedConformance({ store, options }: ConformanceContext): void {
  const sibling = options.sibling;
  describe.skipIf(!sibling)('two replicas on one database', () => {
    let other: EvaluationStore;

    beforeEach(async () => {
      expect(store().shared).toBe(true);
      other = await sibling!(store());
      await other.migrate();
    });

    afterEach(async () => {
      await other.close();
    });

    it('concurrent claimers never claim the same evaluation nor pass the global limit together', async () => {
      const total = 50;
      const limit = 4;
      for (let i = 0; i < total; i++) await store().create(queuedEvaluation({ code: `print(${i})` }));
      const claimedBy = new Map<string, string[]>();
      const replica = async (name: string, replicaStore: EvaluationStore) => {
        const mine: string[] = [];
        claimedBy.set(name, mine);
        for (;;) {
          const claimed = await replicaStore.claimQueued(
            claimFor(name, { max: 3, globalConcurrency: limit }),
          );
          mine.push(...claimed.map((c) => c.evaluation.id));
          await Promise.all(claimed.map((c) => finish(replicaStore, c)));
          if (claimed.length === 0 && (await replicaStore.queueCounts()).queued.normal === 0) return;
        }
      };
      await Promise.all([replica('a', store()), replica('b', other)]);

      const all = [...claimedBy.get('a')!, ...claimedBy.get('b')!];
      expect(all).toHaveLength(total);
      expect(new Set(all).size).toBe(total);
      // Seqs are in commit order, so replaying them shows every moment's active count.
      expect(await maxActiveOverTime(store())).toBeLessThanOrEqual(limit);
    });

    it('a follower reading after its last seq while both replicas write sees every transition once, in order', async () => {
      const writers = [store(), other, store(), other, store(), other];
      let writing = true;
      const followed: number[] = [];
      const follower = (async () => {
        for (let last = 0; ;) {
          // Read before the query starts: an empty page then proves every write had committed.
          const allWritten = !writing;
          const page = await other.transitionsAfter(last, 1000);
          followed.push(...page.map((t) => t.seq));
          if (page.length > 0) last = page[page.length - 1]!.seq;
          else if (allWritten) return;
        }
      })();
      await Promise.all(
        writers.map(async (writer) => {
          for (let i = 0; i < 20; i++) {
            const evaluation = queuedEvaluation();
            await writer.create(evaluation);
            await writer.saveTransition(moveTo(evaluation, 'cancelled'));
          }
        }),
      );
      writing = false;
      await follower;
      const committed = (await store().transitionsAfter(0, 10_000)).map((t) => t.seq);
      expect(committed).toHaveLength(writers.length * 20 * 2);
      expect(followed).toEqual(committed);
    });

    it('sees the other replica’s leases: its work is no orphan until its lease is dropped', async () => {
      const evaluation = queuedEvaluation();
      await store().create(evaluation);
      await store().renewLease('replica-a', 60_000);
      await store().claimQueued(claimFor('replica-a'));
      expect(await other.listOrphans()).toEqual([]);
      await store().dropLease('replica-a');
      expect((await other.listOrphans()).map((o) => o.owner)).toEqual(['replica-a']);
      expect(await other.transferOwnership(evaluation.id, 'replica-a', 'replica-b')).toBe(true);
      expect((await store().listOwned('replica-b', ['starting'])).map((e) => e.id)).toEqual([evaluation.id]);
    });

    it('watchChanges tells of another replica’s transitions and logs after they commit', async () => {
      const changes: StoreChange[] = [];
      let seenOnWake: number[] = [];
      let wake: () => void = () => {};
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const stop = await store().watchChanges!((change) => {
        changes.push(change);
        if (change.kind !== 'transition') return;
        // Read at once, as a follower does: the commit that caused the notification must be visible.
        void store()
          .transitionsAfter(0, 10)
          .then((seen) => {
            seenOnWake = seen.map((t) => t.seq);
            wake();
          });
      });
      try {
        const evaluation = queuedEvaluation();
        const created = await other.create(evaluation);
        await woken;
        expect(seenOnWake).toContain(created.seq);
        // A store that carries the transitions carries exactly what it stores, and says who wrote them.
        const carried = changes.find((c) => c.kind === 'transition' && c.transitions);
        if (carried?.kind === 'transition') {
          const committedAt = expect.any(Number) as unknown as number;
          expect(carried).toEqual({ kind: 'transition', transitions: [created], local: false, committedAt });
          const own = await store().saveTransition(moveTo(evaluation, 'cancelled'));
          await eventually(() => changes.some((c) => c.kind === 'transition' && c.local));
          expect(changes.find((c) => c.kind === 'transition' && c.local)).toEqual({
            kind: 'transition',
            transitions: [own],
            local: true,
            committedAt,
          });
          // The commit time is the database's clock as the write ends: never before the write began.
          if (carried.committedAt !== undefined) {
            expect(carried.committedAt).toBeGreaterThanOrEqual(Date.parse(created.at) - 1000);
          }
          expect(await store().transitionsAfter(created.seq - 1, 10)).toEqual([created, own]);
        }

        await other.appendLogs([chunk(evaluation.id, 1, 'stdout', 'hello')]);
        await eventually(() => changes.some((c) => c.kind === 'log'));
        expect(changes.find((c) => c.kind === 'log')).toEqual({ kind: 'log', evaluationId: evaluation.id });
        expect((await store().readLogs(evaluation.id))[0]?.data.toString()).toBe('hello');
      } finally {
        await stop();
      }
    });
  });
}

async function finish(replicaStore: EvaluationStore, claimed: Claimed): Promise<void> {
  const starting: Evaluation = claimed.evaluation;
  const stored = await replicaStore.saveTransition(moveTo(starting, 'succeeded'));
  expect(stored).not.toBeNull();
}

/** The largest number of evaluations that were active at once, replaying every transition in seq order. */
async function maxActiveOverTime(replicaStore: EvaluationStore): Promise<number> {
  const active = new Set<string>();
  let max = 0;
  let after = 0;
  for (;;) {
    const page = await replicaStore.transitionsAfter(after, 500);
    if (page.length === 0) return max;
    for (const t of page) {
      if (t.to === 'starting' || t.to === 'running') active.add(t.evaluationId);
      else active.delete(t.evaluationId);
      max = Math.max(max, active.size);
    }
    after = page[page.length - 1]!.seq;
  }
}
