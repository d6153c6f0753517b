import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CrucibleError, type Evaluation, type Result } from '../../src/core/index.js';
import { IdempotencyKeyTaken, type EvaluationStore } from '../../src/store/store.js';
import { describeBatchConformance } from './conformance-batches.js';
import { describeClaimConformance } from './conformance-claims.js';
import { describeFairnessConformance } from './conformance-fairness.js';
import { describeHoldConformance } from './conformance-holds.js';
import { describeProjectConformance } from './conformance-projects.js';
import { describeSharedConformance } from './conformance-shared.js';
import { describeTokenConformance } from './conformance-tokens.js';
import { describeUsageConformance } from './conformance-usage.js';
import { describeWebhookConformance } from './conformance-webhooks.js';
import { chunk, moveTo, queuedEvaluation } from './fixtures.js';

export interface ConformanceOptions {
  /**
   * Opens a new store on the same backing data as `store` (same file, same database); `store` is already
   * closed when it is called.
   * Adapters with no durable storage (SQLite `:memory:`) leave it out and the persistence test is skipped.
   */
  readonly reopen?: (store: EvaluationStore) => Promise<EvaluationStore>;
  /**
   * Opens a second store on the same backing data while `store` stays open, as another replica would
   * (`store.shared` adapters only; the suite migrates and closes it). Enables the multi-replica tests.
   */
  readonly sibling?: (store: EvaluationStore) => Promise<EvaluationStore>;
}

/** What the test groups in other files share: the running test's store (fresh and migrated) and the options. */
export interface ConformanceContext {
  readonly store: () => EvaluationStore;
  readonly options: ConformanceOptions;
}

/**
 * The behaviour every `EvaluationStore` adapter must show. Each test gets a fresh, migrated store from
 * `makeStore`, so tests never see each other's rows.
 *
 * @example
 * describeStoreConformance('sqlite (memory)', async () => createSqliteStore({ path: ':memory:' }));
 */
export function describeStoreConformance(
  name: string,
  makeStore: () => Promise<EvaluationStore>,
  options: ConformanceOptions = {},
): void {
  describe(`EvaluationStore conformance: ${name}`, () => {
    let store: EvaluationStore;

    beforeEach(async () => {
      store = await makeStore();
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
    });

    async function createMany(count: number, labels: Record<string, string> = {}): Promise<Evaluation[]> {
      const created: Evaluation[] = [];
      for (let i = 0; i < count; i++) {
        const evaluation = queuedEvaluation({ labels, code: `print(${i})` });
        await store.create(evaluation);
        created.push(evaluation);
      }
      return created;
    }

    describe('create and get', () => {
      it('round-trips every field, including labels, limits and a null result', async () => {
        const evaluation = queuedEvaluation({
          labels: { team: 'infra', 'unicode-ключ': 'värde ✓' },
          limits: { timeoutSeconds: 7, memoryMb: 128, maxProcesses: 3, maxOutputBytes: 999, tmpSizeMb: 5 },
          stdin: 'line 1\nline 2\n',
          priority: 'high',
        });
        const first = await store.create(evaluation);
        expect(first).toMatchObject({ evaluationId: evaluation.id, from: null, to: 'queued', reason: null });
        expect(first.seq).toBeGreaterThan(0);
        expect(await store.get(evaluation.id)).toEqual(evaluation);
      });

      it('keeps stdin exactly, NUL and non-ASCII included', async () => {
        const evaluation = queuedEvaluation({ stdin: 'a\u0000b\n✓ ключ\u0000' });
        await store.create(evaluation);
        expect((await store.get(evaluation.id))?.stdin).toBe(evaluation.stdin);
      });

      it('returns null for an unknown id', async () => {
        expect(await store.get('ev_missing')).toBeNull();
      });

      it('refuses a second evaluation with the same id', async () => {
        const evaluation = queuedEvaluation();
        await store.create(evaluation);
        await expect(store.create(evaluation)).rejects.toThrow(/already exists/);
      });
    });

    describe('idempotency keys', () => {
      it('records a key with its evaluation and finds it in its own scope only', async () => {
        const evaluation = queuedEvaluation();
        await store.create(evaluation, { scope: 'alice', key: 'k1', fingerprint: 'f1' });
        expect(await store.findIdempotent('alice', 'k1')).toEqual({
          evaluationId: evaluation.id,
          fingerprint: 'f1',
        });
        expect(await store.findIdempotent('bob', 'k1')).toBeNull();
        expect(await store.findIdempotent('alice', 'k2')).toBeNull();
      });

      it('refuses a taken key with IdempotencyKeyTaken and stores nothing of the second evaluation', async () => {
        const first = queuedEvaluation();
        const second = queuedEvaluation();
        await store.create(first, { scope: 'alice', key: 'k1', fingerprint: 'f1' });
        await expect(
          store.create(second, { scope: 'alice', key: 'k1', fingerprint: 'f2' }),
        ).rejects.toBeInstanceOf(IdempotencyKeyTaken);
        expect(await store.get(second.id)).toBeNull();
        expect((await store.transitionsAfter(0, 10)).map((t) => t.evaluationId)).toEqual([first.id]);
      });
    });

    describe('saveTransition', () => {
      it('applies status, runtime, timings and result, and records the transition', async () => {
        const queued = queuedEvaluation();
        await store.create(queued);
        const at = new Date().toISOString();
        const starting = await store.saveTransition(
          moveTo(queued, 'starting', {
            runtime: 'kubernetes',
            timings: { ...queued.timings, dispatchedAt: at },
          }),
        );
        expect(starting).toMatchObject({ evaluationId: queued.id, from: 'queued', to: 'starting' });

        const stored = (await store.get(queued.id))!;
        const result: Result = {
          exitCode: 1,
          signal: null,
          reason: 'exit_code',
          message: null,
          durationMs: 12,
          cpuTimeMs: 10,
          peakMemoryBytes: 1_000_000,
          memoryEnforcement: 'cgroup',
          stdoutTruncated: true,
          stderrTruncated: false,
          outputComplete: true,
        };
        const failed = await store.saveTransition(moveTo(stored, 'failed', { result }));
        expect(failed).toMatchObject({ from: 'starting', to: 'failed', reason: 'exit_code' });

        const final = await store.get(queued.id);
        expect(final).toEqual({
          ...queued,
          status: 'failed',
          runtime: 'kubernetes',
          timings: { ...queued.timings, dispatchedAt: at },
          result,
        });
        expect((await store.transitionsOf(queued.id)).map((t) => [t.from, t.to])).toEqual([
          [null, 'queued'],
          ['queued', 'starting'],
          ['starting', 'failed'],
        ]);
      });

      it('wins once and loses on a stale `from`', async () => {
        const queued = queuedEvaluation();
        await store.create(queued);
        expect(await store.saveTransition(moveTo(queued, 'starting'))).not.toBeNull();
        // Same write again: the stored status is no longer `queued`.
        expect(await store.saveTransition(moveTo(queued, 'starting'))).toBeNull();
        expect(await store.saveTransition(moveTo(queued, 'cancelled'))).toBeNull();
        expect((await store.get(queued.id))?.status).toBe('starting');
        expect(await store.transitionsOf(queued.id)).toHaveLength(2);
      });

      it('lets exactly one of two racing writers win', async () => {
        const queued = queuedEvaluation();
        await store.create(queued);
        const outcomes = await Promise.all([
          store.saveTransition(moveTo(queued, 'cancelled')),
          store.saveTransition(moveTo(queued, 'starting')),
        ]);
        expect(outcomes.filter((t) => t !== null)).toHaveLength(1);
        expect(await store.transitionsOf(queued.id)).toHaveLength(2);
      });

      it('returns null for an unknown evaluation', async () => {
        expect(await store.saveTransition(moveTo(queuedEvaluation(), 'starting'))).toBeNull();
      });
    });

    describe('transitions', () => {
      it('numbers transitions with a strictly increasing seq across evaluations', async () => {
        const [a, b] = await createMany(2);
        await store.saveTransition(moveTo(a!, 'starting'));
        await store.saveTransition(moveTo(b!, 'starting'));
        await store.saveTransition(moveTo({ ...a!, status: 'starting' }, 'running'));
        const all = await store.transitionsAfter(0, 100);
        expect(all).toHaveLength(5);
        for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBeGreaterThan(all[i - 1]!.seq);
        expect(all.map((t) => t.evaluationId)).toEqual([a!.id, b!.id, a!.id, b!.id, a!.id]);
      });

      it('pages through transitionsAfter without gaps or repeats', async () => {
        const evaluations = await createMany(7);
        for (const e of evaluations) await store.saveTransition(moveTo(e, 'starting'));
        const everything = await store.transitionsAfter(0, 1000);
        const seen: number[] = [];
        let after = 0;
        for (;;) {
          const page = await store.transitionsAfter(after, 4);
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(4);
          seen.push(...page.map((t) => t.seq));
          after = page[page.length - 1]!.seq;
        }
        expect(seen).toEqual(everything.map((t) => t.seq));
        expect(await store.transitionsAfter(after, 10)).toEqual([]);
      });
    });

    describe('list', () => {
      it('lists newest first', async () => {
        const created = await createMany(4);
        const page = await store.list({ limit: 10 });
        expect(page.items.map((e) => e.id)).toEqual(created.map((e) => e.id).reverse());
        expect(page.nextCursor).toBeNull();
      });

      it('pages with a cursor, no duplicates or gaps, and a null cursor on the last page', async () => {
        for (const total of [7, 6]) {
          const created = await createMany(total, { batch: String(total) });
          const ids: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await store.list({
              limit: 3,
              label: { key: 'batch', value: String(total) },
              cursor,
            });
            ids.push(...page.items.map((e) => e.id));
            cursor = page.nextCursor ?? undefined;
            pages++;
          } while (cursor);
          expect(ids).toEqual(created.map((e) => e.id).reverse());
          expect(pages).toBe(Math.ceil(total / 3));
        }
      });

      it('filters by status', async () => {
        const [a, b, c] = await createMany(3);
        await store.saveTransition(moveTo(a!, 'starting'));
        await store.saveTransition(moveTo(c!, 'starting'));
        const starting = await store.list({ status: 'starting', limit: 10 });
        expect(starting.items.map((e) => e.id)).toEqual([c!.id, a!.id]);
        const queued = await store.list({ status: 'queued', limit: 10 });
        expect(queued.items.map((e) => e.id)).toEqual([b!.id]);
      });

      it('filters by label key=value, alone and with a status', async () => {
        const [red1] = await createMany(1, { colour: 'red', size: 'L' });
        await createMany(1, { colour: 'blue' });
        const [red2] = await createMany(1, { colour: 'red' });
        await createMany(1, { size: 'red' });
        await store.saveTransition(moveTo(red2!, 'starting'));

        const red = await store.list({ label: { key: 'colour', value: 'red' }, limit: 10 });
        expect(red.items.map((e) => e.id)).toEqual([red2!.id, red1!.id]);
        const redQueued = await store.list({
          label: { key: 'colour', value: 'red' },
          status: 'queued',
          limit: 10,
        });
        expect(redQueued.items.map((e) => e.id)).toEqual([red1!.id]);
        const none = await store.list({ label: { key: 'colour', value: 'green' }, limit: 10 });
        expect(none).toEqual({ items: [], nextCursor: null });
      });

      it('pages a status filter with a cursor', async () => {
        const created = await createMany(5);
        for (const e of created) await store.saveTransition(moveTo(e, 'running'));
        const first = await store.list({ status: 'running', limit: 2 });
        const second = await store.list({ status: 'running', limit: 2, cursor: first.nextCursor! });
        const third = await store.list({ status: 'running', limit: 2, cursor: second.nextCursor! });
        expect([...first.items, ...second.items, ...third.items].map((e) => e.id)).toEqual(
          created.map((e) => e.id).reverse(),
        );
        expect(third.nextCursor).toBeNull();
      });

      it('rejects a cursor it did not issue as an invalid request', async () => {
        await createMany(1);
        const attempt = store.list({ limit: 2, cursor: 'not a cursor!' });
        await expect(attempt).rejects.toBeInstanceOf(CrucibleError);
        await expect(store.list({ limit: 2, cursor: 'not a cursor!' })).rejects.toMatchObject({
          code: 'invalid_request',
          field: 'cursor',
        });
      });
    });

    describe('logs', () => {
      it('appends and reads chunks oldest first, ignoring duplicates', async () => {
        const [e] = await createMany(1);
        await store.appendLogs([chunk(e!.id, 1, 'stdout', 'a'), chunk(e!.id, 2, 'stderr', 'b')]);
        // A retry after a crash resends seq 2: it must not duplicate nor overwrite.
        await store.appendLogs([chunk(e!.id, 2, 'stderr', 'CHANGED'), chunk(e!.id, 3, 'stdout', 'c')]);
        const logs = await store.readLogs(e!.id);
        expect(logs.map((c) => [c.seq, c.stream, c.data.toString()])).toEqual([
          [1, 'stdout', 'a'],
          [2, 'stderr', 'b'],
          [3, 'stdout', 'c'],
        ]);
        expect(logs[0]).toMatchObject({ evaluationId: e!.id });
        expect(await store.readLogs('ev_missing')).toEqual([]);
        await store.appendLogs([]);
      });

      it('reads after a seq, by stream, and up to a limit', async () => {
        const [e] = await createMany(1);
        await store.appendLogs(
          [1, 2, 3, 4, 5, 6].map((seq) => chunk(e!.id, seq, seq % 2 ? 'stdout' : 'stderr', `line ${seq}`)),
        );
        const seqs = async (read: Parameters<EvaluationStore['readLogs']>[1]) =>
          (await store.readLogs(e!.id, read)).map((c) => c.seq);
        expect(await seqs({ afterSeq: 4 })).toEqual([5, 6]);
        expect(await seqs({ stream: 'stderr' })).toEqual([2, 4, 6]);
        expect(await seqs({ stream: 'stdout', afterSeq: 1, limit: 1 })).toEqual([3]);
        expect(await seqs({ limit: 2 })).toEqual([1, 2]);
      });

      it('keeps bytes exactly, including invalid UTF-8 and NUL', async () => {
        const [e] = await createMany(1);
        const bytes = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xe2, 0x82, 0x0a, 0x80]);
        await store.appendLogs([
          chunk(e!.id, 1, 'stdout', bytes),
          chunk(e!.id, 2, 'stdout', Buffer.alloc(0)),
        ]);
        const [first, second] = await store.readLogs(e!.id);
        expect(Buffer.isBuffer(first!.data)).toBe(true);
        expect(first!.data.equals(bytes)).toBe(true);
        expect(second!.data.length).toBe(0);
      });
    });

    it('listByStatus returns the evaluations in any of the statuses, oldest first', async () => {
      const [a, b, c, d] = await createMany(4);
      await store.saveTransition(moveTo(b!, 'starting'));
      await store.saveTransition(moveTo(c!, 'running'));
      await store.saveTransition(moveTo(d!, 'cancelled'));
      const active = await store.listByStatus(['starting', 'running']);
      expect(active.map((e) => e.id)).toEqual([b!.id, c!.id]);
      expect((await store.listByStatus(['queued'])).map((e) => e.id)).toEqual([a!.id]);
      expect(await store.listByStatus([])).toEqual([]);
    });

    it('treats a second migrate as a no-op', async () => {
      const [e] = await createMany(1);
      await store.migrate();
      await store.migrate();
      expect(await store.get(e!.id)).toEqual(e);
      expect(await store.transitionsAfter(0, 10)).toHaveLength(1);
    });

    it('latestTransitionSeq is 0 on an empty store, then the highest committed seq', async () => {
      expect(await store.latestTransitionSeq()).toBe(0);
      const [e] = await createMany(1);
      const moved = await store.saveTransition(moveTo(e!, 'starting'));
      expect(await store.latestTransitionSeq()).toBe(moved!.seq);
    });

    const context: ConformanceContext = { store: () => store, options };
    describeClaimConformance(context);
    describeFairnessConformance(context);
    describeHoldConformance(context);
    describeSharedConformance(context);
    describeProjectConformance(context);
    describeWebhookConformance(context);
    describeTokenConformance(context);
    describeBatchConformance(context);
    describeUsageConformance(context);

    it.skipIf(!options.reopen)('keeps data across close and reopen', async () => {
      const [e] = await createMany(1);
      await store.saveTransition(moveTo(e!, 'starting'));
      await store.appendLogs([chunk(e!.id, 1, 'stdout', 'persisted')]);
      const before = await store.transitionsAfter(0, 10);
      await store.close();

      store = await options.reopen!(store);
      await store.migrate();
      expect(await store.get(e!.id)).toEqual({ ...e, status: 'starting' });
      expect(await store.transitionsAfter(0, 10)).toEqual(before);
      expect((await store.readLogs(e!.id))[0]?.data.toString()).toBe('persisted');
      // New transitions continue after the old ones instead of reusing their seq.
      const next = await store.saveTransition(moveTo({ ...e!, status: 'starting' }, 'running'));
      expect(next!.seq).toBeGreaterThan(before[before.length - 1]!.seq);
    });
  });
}
