import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import type { AttemptRecord, EvaluationStore, WebhookStore } from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { claimFor, moveTo, queuedEvaluation } from './fixtures.js';

const URL = 'https://hooks.example.com/crucible';

/** The webhook outbox: enqueued with the terminal transition, claimed with a lease, attempts recorded. */
export function describeWebhookConformance({ store, options }: ConformanceContext): void {
  const webhooks = (of: EvaluationStore = store()): WebhookStore => {
    if (!of.webhooks) throw new Error('this adapter keeps no webhook outbox');
    return of.webhooks;
  };

  /** A queued evaluation with a registered webhook target, as the service creates one. */
  async function withWebhook(): Promise<Evaluation> {
    const evaluation = queuedEvaluation();
    await webhooks().registerEvaluationWebhook(evaluation.id, URL, evaluation.createdAt);
    await store().create(evaluation);
    return evaluation;
  }

  async function finish(evaluation: Evaluation, to: Evaluation['status'] = 'succeeded'): Promise<void> {
    const [claimed] = await store().claimQueued(claimFor('r1'));
    const running = claimed!.evaluation;
    expect(running.id).toBe(evaluation.id);
    expect(await store().saveTransition(moveTo(running, to))).not.toBeNull();
  }

  const failure = (
    claim: { delivery: { id: string }; attempt: number },
    owner: string,
    nextMs: number | null,
  ) =>
    ({
      deliveryId: claim.delivery.id,
      owner,
      attempt: claim.attempt,
      at: new Date().toISOString(),
      statusCode: 503,
      error: 'answered 503',
      durationMs: 12,
      nextAttemptAt: nextMs === null ? null : new Date(nextMs).toISOString(),
      nextAttemptMs: nextMs,
      delivered: false,
    }) satisfies AttemptRecord;

  describe('webhook outbox', () => {
    it('enqueues one delivery, due at once, with the terminal transition and not before', async () => {
      const evaluation = await withWebhook();
      const plain = queuedEvaluation();
      await store().create(plain);
      const [claimed] = await store().claimQueued(claimFor('r1', { max: 1 }));
      expect(claimed!.evaluation.id).toBe(evaluation.id);
      expect(await webhooks().deliveriesOf('evaluation', evaluation.id)).toEqual([]);
      expect(await webhooks().nextDueMs()).toBeNull();

      await store().saveTransition(moveTo(claimed!.evaluation, 'failed'));
      await store().saveTransition(moveTo(plain, 'cancelled'));
      const deliveries = await webhooks().deliveriesOf('evaluation', evaluation.id);
      expect(deliveries).toEqual([
        expect.objectContaining({
          id: `msg_${evaluation.id}`,
          subjectKind: 'evaluation',
          subjectId: evaluation.id,
          url: URL,
          state: 'pending',
          attempts: 0,
          dueMs: 0,
        }),
      ]);
      expect(Date.parse(deliveries[0]!.createdAt)).not.toBeNaN();
      expect(await webhooks().deliveriesOf('evaluation', plain.id)).toEqual([]);
      expect(await webhooks().nextDueMs()).toBe(0);
    });

    it('enqueues on a cancel straight from queued, and a lost compare-and-set enqueues nothing', async () => {
      const evaluation = await withWebhook();
      expect(await store().saveTransition(moveTo(evaluation, 'cancelled'))).not.toBeNull();
      expect(await store().saveTransition(moveTo(evaluation, 'cancelled'))).toBeNull();
      expect(await webhooks().deliveriesOf('evaluation', evaluation.id)).toHaveLength(1);
    });

    it('claims a due delivery once until its lease runs out, then anyone may claim it', async () => {
      const evaluation = await withWebhook();
      await finish(evaluation);
      const now = Date.now();
      const first = await webhooks().claimDueDeliveries({ owner: 'a', max: 5, nowMs: now, leaseMs: 60_000 });
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ attempt: 1, delivery: { id: `msg_${evaluation.id}` } });
      expect(
        await webhooks().claimDueDeliveries({ owner: 'b', max: 5, nowMs: now, leaseMs: 60_000 }),
      ).toEqual([]);
      expect(await webhooks().nextDueMs()).toBe(now + 60_000);
      const after = await webhooks().claimDueDeliveries({
        owner: 'b',
        max: 5,
        nowMs: now + 60_000,
        leaseMs: 60_000,
      });
      expect(after.map((c) => c.attempt)).toEqual([1]);
      // The first claimer's lease ran out: its outcome no longer counts.
      expect(await webhooks().recordAttempt(failure(first[0]!, 'a', now + 1000))).toBe(false);
      expect(await webhooks().attemptsOf(`msg_${evaluation.id}`)).toEqual([]);
    });

    it('records failures with the next due time, then success, keeping the delivery id', async () => {
      const evaluation = await withWebhook();
      await finish(evaluation, 'timed_out');
      const now = Date.now();
      const claim = async (at: number) =>
        (await webhooks().claimDueDeliveries({ owner: 'a', max: 5, nowMs: at, leaseMs: 60_000 }))[0]!;
      const first = await claim(now);
      expect(await webhooks().recordAttempt(failure(first, 'a', now + 1000))).toBe(true);
      const [pending] = await webhooks().deliveriesOf('evaluation', evaluation.id);
      expect(pending).toMatchObject({ state: 'pending', attempts: 1, dueMs: now + 1000 });
      expect(
        await webhooks().claimDueDeliveries({ owner: 'a', max: 5, nowMs: now + 999, leaseMs: 1 }),
      ).toEqual([]);
      const second = await claim(now + 1000);
      expect(second).toMatchObject({ attempt: 2, delivery: { id: first.delivery.id } });
      const success: AttemptRecord = {
        ...failure(second, 'a', null),
        statusCode: 204,
        error: null,
        delivered: true,
      };
      expect(await webhooks().recordAttempt(success)).toBe(true);
      expect(await webhooks().deliveriesOf('evaluation', evaluation.id)).toEqual([
        expect.objectContaining({ state: 'delivered', attempts: 2, dueMs: null }),
      ]);
      expect(await webhooks().nextDueMs()).toBeNull();
      const attempts = await webhooks().attemptsOf(first.delivery.id);
      expect(attempts).toEqual([
        {
          deliveryId: first.delivery.id,
          attempt: 1,
          at: expect.any(String),
          statusCode: 503,
          error: 'answered 503',
          durationMs: 12,
          nextAttemptAt: new Date(now + 1000).toISOString(),
        },
        expect.objectContaining({ attempt: 2, statusCode: 204, error: null, nextAttemptAt: null }),
      ]);
    });

    it('ends as failed when no attempt is left, and a released claim is due again at once', async () => {
      const evaluation = await withWebhook();
      await finish(evaluation);
      const now = Date.now();
      const [claim] = await webhooks().claimDueDeliveries({
        owner: 'a',
        max: 1,
        nowMs: now,
        leaseMs: 60_000,
      });
      await webhooks().releaseDelivery(claim!.delivery.id, 'a', now);
      const [again] = await webhooks().claimDueDeliveries({
        owner: 'b',
        max: 1,
        nowMs: now,
        leaseMs: 60_000,
      });
      expect(again).toMatchObject({ attempt: 1 });
      expect(await webhooks().recordAttempt(failure(again!, 'b', null))).toBe(true);
      expect(await webhooks().deliveriesOf('evaluation', evaluation.id)).toEqual([
        expect.objectContaining({ state: 'failed', attempts: 1, dueMs: null }),
      ]);
    });

    it('enqueues other deliveries once by id (the batch hook point)', async () => {
      const delivery = {
        id: 'msg_batch_1',
        subjectKind: 'evaluation' as const,
        subjectId: 'batch_1',
        url: URL,
        createdAt: new Date().toISOString(),
      };
      expect(await webhooks().enqueueDelivery(delivery)).toBe(true);
      expect(await webhooks().enqueueDelivery(delivery)).toBe(false);
      expect(await webhooks().deliveriesOf('evaluation', 'batch_1')).toHaveLength(1);
    });

    it.skipIf(!options.reopen)('keeps pending deliveries and their attempts across a reopen', async () => {
      const evaluation = await withWebhook();
      await finish(evaluation);
      const now = Date.now();
      const [claim] = await webhooks().claimDueDeliveries({
        owner: 'a',
        max: 1,
        nowMs: now,
        leaseMs: 60_000,
      });
      await webhooks().recordAttempt(failure(claim!, 'a', now + 5000));
      await store().close();
      const reopened = await options.reopen!(store());
      await reopened.migrate();
      try {
        const [again] = await webhooks(reopened).claimDueDeliveries({
          owner: 'new',
          max: 1,
          nowMs: now + 5000,
          leaseMs: 60_000,
        });
        expect(again).toMatchObject({ attempt: 2, delivery: { id: `msg_${evaluation.id}`, url: URL } });
        expect(await webhooks(reopened).attemptsOf(`msg_${evaluation.id}`)).toHaveLength(1);
      } finally {
        await reopened.close();
      }
    });
  });

  describe.skipIf(!options.sibling)('webhook outbox on two replicas', () => {
    let other: EvaluationStore;
    beforeEach(async () => {
      other = await options.sibling!(store());
      await other.migrate();
    });
    afterEach(async () => {
      await other.close();
    });

    it('never hands the same delivery to two claimers at once', async () => {
      for (let i = 0; i < 20; i++) {
        const evaluation = await withWebhook();
        await store().saveTransition(moveTo(evaluation, 'cancelled'));
      }
      const now = Date.now();
      const claimAll = async (of: EvaluationStore, owner: string) => {
        const ids: string[] = [];
        for (;;) {
          const claimed = await webhooks(of).claimDueDeliveries({
            owner,
            max: 3,
            nowMs: now,
            leaseMs: 60_000,
          });
          if (claimed.length === 0) return ids;
          ids.push(...claimed.map((c) => c.delivery.id));
        }
      };
      const [a, b] = await Promise.all([claimAll(store(), 'a'), claimAll(other, 'b')]);
      expect(a.length + b.length).toBe(20);
      expect(new Set([...a, ...b]).size).toBe(20);
    });
  });
}
