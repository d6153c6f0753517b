import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import {
  BatchIdempotencyKeyTaken,
  type Batch,
  type BatchStore,
  type EvaluationStore,
} from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { claimFor, moveTo, queuedEvaluation } from './fixtures.js';

const URL = 'https://hooks.example.com/batch';

/** Batches: one transaction for the batch and its items, progress counts, the once-only batch webhook. */
export function describeBatchConformance({ store, options }: ConformanceContext): void {
  const batches = (of: EvaluationStore = store()): BatchStore => {
    if (!of.batches) throw new Error('this adapter keeps no batches');
    return of.batches;
  };

  let seq = 0;
  const newBatch = (total: number, overrides: Partial<Batch> = {}): Batch => ({
    id: `batch_${Date.now()}_${++seq}`,
    total,
    labels: { suite: 'x' },
    createdAt: new Date().toISOString(),
    webhookUrl: null,
    user: null,
    ...overrides,
  });
  const items = (n: number, labels: Record<string, string> = {}): Evaluation[] =>
    Array.from({ length: n }, (_, i) => queuedEvaluation({ labels, stdin: `in ${i}\0` }));

  describe('batches', () => {
    it('stores every item in order with contiguous seqs, labels, and counts by status', async () => {
      const evaluations = items(150, { team: 'a' });
      const batch = newBatch(150);
      const transitions = await batches().createBatch(
        batch,
        evaluations.map((evaluation) => ({ evaluation })),
      );
      expect(transitions.map((t) => t.evaluationId)).toEqual(evaluations.map((e) => e.id));
      const first = transitions[0]!.seq;
      expect(transitions.map((t) => t.seq)).toEqual(evaluations.map((_, i) => first + i));
      expect(transitions.every((t) => t.from === null && t.to === 'queued')).toBe(true);
      expect(await store().transitionsAfter(first - 1, 500)).toEqual(transitions);
      expect(await store().get(evaluations[7]!.id)).toEqual(evaluations[7]);
      const labelled = await store().list({ label: { key: 'team', value: 'a' }, limit: 500 });
      expect(labelled.items).toHaveLength(150);

      const progress = await batches().batchProgress(batch.id);
      expect(progress?.batch).toEqual(batch);
      expect(progress?.byStatus).toMatchObject({ queued: 150, running: 0, succeeded: 0 });
      expect(await batches().membersOf(batch.id)).toEqual(
        evaluations.map((e) => ({ id: e.id, status: 'queued' })),
      );
      expect(await batches().batchProgress('batch_unknown')).toBeNull();
    });

    it('lists one batch newest first, by page and by status', async () => {
      const evaluations = items(5);
      const batch = newBatch(5);
      await store().create(queuedEvaluation());
      await batches().createBatch(
        batch,
        evaluations.map((evaluation) => ({ evaluation })),
      );
      await store().saveTransition(moveTo(evaluations[1]!, 'cancelled'));
      const first = await batches().listBatch(batch.id, { limit: 3 });
      expect(first.items.map((e) => e.id)).toEqual([4, 3, 2].map((i) => evaluations[i]!.id));
      const second = await batches().listBatch(batch.id, { limit: 3, cursor: first.nextCursor! });
      expect(second.items.map((e) => e.id)).toEqual([1, 0].map((i) => evaluations[i]!.id));
      expect(second.nextCursor).toBeNull();
      const cancelled = await batches().listBatch(batch.id, { limit: 10, status: 'cancelled' });
      expect(cancelled.items.map((e) => e.id)).toEqual([evaluations[1]!.id]);
    });

    it('writes nothing when an item cannot be stored', async () => {
      const existing = queuedEvaluation();
      await store().create(existing);
      const before = await store().latestTransitionSeq();
      const batch = newBatch(3);
      const evaluations = [...items(2), existing];
      await expect(
        batches().createBatch(
          batch,
          evaluations.map((evaluation) => ({ evaluation })),
        ),
      ).rejects.toThrow();
      expect(await batches().batchProgress(batch.id)).toBeNull();
      expect(await store().get(evaluations[0]!.id)).toBeNull();
      expect(await store().latestTransitionSeq()).toBe(before);
    });

    it('records the batch user', async () => {
      const batch = newBatch(1, { user: 'alice' });
      await batches().createBatch(batch, [{ evaluation: queuedEvaluation({ user: 'alice' }) }]);
      expect((await batches().batchProgress(batch.id))?.batch.user).toBe('alice');
    });

    it('keeps idempotency keys per scope and refuses a taken one with nothing written', async () => {
      const key = { scope: 'alice', key: 'k1', fingerprint: 'f1' };
      const batch = newBatch(1);
      await batches().createBatch(batch, [{ evaluation: queuedEvaluation() }], key);
      expect(await batches().findIdempotentBatch('alice', 'k1')).toEqual({
        batchId: batch.id,
        fingerprint: 'f1',
      });
      expect(await batches().findIdempotentBatch('bob', 'k1')).toBeNull();
      const again = queuedEvaluation();
      await expect(
        batches().createBatch(newBatch(1), [{ evaluation: again }], { ...key, fingerprint: 'f2' }),
      ).rejects.toBeInstanceOf(BatchIdempotencyKeyTaken);
      expect(await store().get(again.id)).toBeNull();
      await batches().createBatch(newBatch(1), [{ evaluation: queuedEvaluation() }], {
        ...key,
        scope: 'bob',
      });
    });

    it('enqueues the batch webhook once, with the last terminal transition, and item webhooks per item', async () => {
      const webhooks = store().webhooks!;
      const evaluations = items(3);
      const batch = newBatch(3, { webhookUrl: URL });
      await batches().createBatch(batch, [
        { evaluation: evaluations[0]!, webhookUrl: `${URL}/item` },
        { evaluation: evaluations[1]! },
        { evaluation: evaluations[2]! },
      ]);
      const claimed = await store().claimQueued(claimFor('r1', { max: 3 }));
      expect(claimed).toHaveLength(3);
      const byId = new Map(claimed.map((c) => [c.evaluation.id, c.evaluation]));
      await store().saveTransition(moveTo(byId.get(evaluations[0]!.id)!, 'succeeded'));
      await store().saveTransition(moveTo(byId.get(evaluations[1]!.id)!, 'failed'));
      expect(await webhooks.deliveriesOf('batch', batch.id)).toEqual([]);
      expect(await webhooks.deliveriesOf('evaluation', evaluations[0]!.id)).toEqual([
        expect.objectContaining({ url: `${URL}/item` }),
      ]);
      expect(await webhooks.deliveriesOf('evaluation', evaluations[1]!.id)).toEqual([]);
      // A lost compare-and-set counts nothing down.
      expect(await store().saveTransition(moveTo(byId.get(evaluations[1]!.id)!, 'failed'))).toBeNull();
      expect(await webhooks.deliveriesOf('batch', batch.id)).toEqual([]);
      await store().saveTransition(moveTo(byId.get(evaluations[2]!.id)!, 'timed_out'));
      expect(await webhooks.deliveriesOf('batch', batch.id)).toEqual([
        expect.objectContaining({
          id: `msg_batch_${batch.id}`,
          subjectKind: 'batch',
          subjectId: batch.id,
          url: URL,
          state: 'pending',
        }),
      ]);
      const progress = await batches().batchProgress(batch.id);
      expect(progress?.byStatus).toMatchObject({ succeeded: 1, failed: 1, timed_out: 1, queued: 0 });
      expect((await batches().membersOf(batch.id)).map((m) => m.status)).toEqual([
        'succeeded',
        'failed',
        'timed_out',
      ]);
    });

    it('enqueues no batch webhook for a batch without one', async () => {
      const evaluation = queuedEvaluation();
      const batch = newBatch(1);
      await batches().createBatch(batch, [{ evaluation }]);
      await store().saveTransition(moveTo(evaluation, 'cancelled'));
      expect(await store().webhooks!.deliveriesOf('batch', batch.id)).toEqual([]);
    });

    const sibling = options.sibling;
    describe.skipIf(!sibling)('two replicas ending a batch at once', () => {
      let other: EvaluationStore;
      beforeEach(async () => {
        other = await sibling!(store());
        await other.migrate();
      });
      afterEach(() => other.close());

      it('enqueue exactly one batch webhook', async () => {
        for (let round = 0; round < 5; round++) {
          const evaluations = items(20);
          const batch = newBatch(20, { webhookUrl: URL });
          await batches().createBatch(
            batch,
            evaluations.map((evaluation) => ({ evaluation })),
          );
          // Every item ends at once, half through each store: the last two commits race.
          await Promise.all(
            evaluations.map((e, i) => (i % 2 ? other : store()).saveTransition(moveTo(e, 'cancelled'))),
          );
          expect(await store().webhooks!.deliveriesOf('batch', batch.id)).toHaveLength(1);
          expect((await batches().batchProgress(batch.id))?.byStatus.cancelled).toBe(20);
        }
      });
    });
  });
}
