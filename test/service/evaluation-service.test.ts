import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { isTerminal, type Evaluation } from '../../src/core/index.js';
import type { EvaluationService } from '../../src/service/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { FakeRuntime, type FakeRun } from '../support/fake-runtime.js';
import { FlakyStore } from '../support/flaky-store.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

async function start(options: Parameters<typeof inProcess>[0]): Promise<InProcess> {
  const p = await inProcess(options);
  open.push(p);
  return p;
}

/** Lets queued promise work run until `done` holds (bounded in turns, not in time). */
async function settle(done: () => boolean | Promise<boolean>, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns && !(await done()); i++) await nextTurn();
  expect(await done()).toBe(true);
}

/** Slots this replica holds: a slot is free only once the sandbox is gone. */
async function slotsHeld(service: EvaluationService): Promise<number> {
  return (await service.queueStats()).replica.running;
}

async function submit(service: EvaluationService, code = 'print(1)'): Promise<Evaluation> {
  return (await service.submit({ language: 'python', code })).evaluation;
}

describe('EvaluationService with a scripted runtime', () => {
  test('runs an evaluation to succeeded with its output and frees the slot', async () => {
    const runtime = new FakeRuntime();
    const { service } = await start({ runtime });
    const submitted = await submit(service, 'hello');
    const done = await service.wait(submitted.id, 5_000);
    expect(done.status).toBe('succeeded');
    expect((await service.withOutput(done)).stdout).toBe('hello');
    await settle(async () => (await slotsHeld(service)) === 0);
  });

  test('200 submit-then-cancel pairs racing the dispatch: each cancelled or finished, nothing left running, every slot free', async () => {
    let turn = 0;
    // Launches that take a varying number of event-loop turns, so cancels land before, during and after them.
    const runtime = new FakeRuntime({
      launch: async () => {
        for (let i = turn++ % 4; i > 0; i--) await nextTurn();
      },
      script: (run: FakeRun) => {
        run.print('partial');
        if (Number(run.request.code) % 3 === 0) void run.exit(0);
      },
    });
    const { service } = await start({ runtime, concurrency: 4 });
    const pairs: Evaluation[] = [];
    // Eight pairs at a time, so most submissions find a free slot and are dispatched as the cancel arrives.
    for (let batch = 0; batch < 25; batch++) {
      const cancelled = await Promise.all(
        Array.from({ length: 8 }, async (_, j) => {
          const i = batch * 8 + j;
          const evaluation = await submit(service, String(i));
          for (let k = i % 5; k > 0; k--) await nextTurn();
          return service.cancel(evaluation.id);
        }),
      );
      pairs.push(...cancelled);
    }
    const final = await Promise.all(pairs.map((e) => service.wait(e.id, 5_000)));
    for (const evaluation of final) expect(['cancelled', 'succeeded']).toContain(evaluation.status);
    expect(final.filter((e) => e.status === 'cancelled').length).toBeGreaterThan(100);
    await settle(async () => (await slotsHeld(service)) === 0 && runtime.alive.length === 0);
    // No run was launched for an evaluation already cancelled before its dispatch.
    const cancelledBeforeDispatch = final.filter(
      (e) => e.status === 'cancelled' && e.timings.dispatchedAt === null,
    );
    for (const e of cancelledBeforeDispatch) expect(runtime.started).not.toContain(e.id);
  });

  test('a store that fails writes: no slot leaked, finished resolves only once the result is stored, and it ends correctly', async () => {
    const flaky = new FlakyStore(createSqliteStore({ path: ':memory:' }));
    const persistedSeen: { status: string; stdout: string }[] = [];
    const holder: { p?: InProcess } = {};
    const runtime = new FakeRuntime({
      script: async (run: FakeRun) => {
        flaky.failNext(6);
        run.print('all of it');
        await run.exit(0);
        // What a Kubernetes runtime checks before deleting the Job: the result and output are stored.
        const stored = await holder.p!.store.get(run.request.evaluationId);
        const logs = await holder.p!.store.readLogs(run.request.evaluationId);
        persistedSeen.push({ status: stored?.status ?? 'missing', stdout: logs.map((c) => c.data).join('') });
      },
    });
    const p = await start({ runtime, store: flaky.store, storeRetry: { baseDelayMs: 1, maxDelayMs: 5 } });
    holder.p = p;
    const submitted = await submit(p.service);
    const done = await p.service.wait(submitted.id, 5_000);
    expect(flaky.failed).toBe(6);
    expect(done.status).toBe('succeeded');
    expect((await p.service.withOutput(done)).stdout).toBe('all of it');
    await settle(() => persistedSeen.length === 1);
    expect(persistedSeen[0]).toEqual({ status: 'succeeded', stdout: 'all of it' });
    await settle(async () => (await slotsHeld(p.service)) === 0);
    expect(p.log.lines.some((l) => l.level === 'warn' && l.message.includes('retrying'))).toBe(true);
  });

  test('a failed dispatch write is retried: the evaluation does not stay queued forever', async () => {
    const flaky = new FlakyStore(createSqliteStore({ path: ':memory:' }));
    const runtime = new FakeRuntime();
    const p = await start({ runtime, store: flaky.store, storeRetry: { baseDelayMs: 1, maxDelayMs: 5 } });
    const first = await submit(p.service, 'one');
    flaky.failNext(3);
    const done = await p.service.wait(first.id, 5_000);
    expect(isTerminal(done.status)).toBe(true);
    expect(done.status).toBe('succeeded');
  });

  test('a submission retried with the same Idempotency-Key is stored and run once, also across a restart', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-idem-'));
    try {
      const file = path.join(dir, 'crucible.db');
      const runtime = new FakeRuntime();
      const body = { language: 'python', code: 'print(1)', labels: { a: '1', b: '2' } };
      const first = await inProcess({ runtime, store: createSqliteStore({ path: file }) });
      const a = await first.service.submit(body, { idempotencyKey: 'k-1', caller: 'alice' });
      const again = await first.service.submit(
        { labels: { b: '2', a: '1' }, code: 'print(1)', language: 'python' },
        { idempotencyKey: 'k-1', caller: 'alice' },
      );
      expect(a.replayed).toBe(false);
      expect(again).toMatchObject({ replayed: true, evaluation: { id: a.evaluation.id } });
      await first.service.wait(a.evaluation.id, 5_000);
      await first.close();

      const second = await start({ runtime, store: createSqliteStore({ path: file }) });
      const afterRestart = await second.service.submit(body, { idempotencyKey: 'k-1', caller: 'alice' });
      expect(afterRestart).toMatchObject({
        replayed: true,
        evaluation: { id: a.evaluation.id, status: 'succeeded' },
      });
      // Another caller's key space is its own.
      const bob = await second.service.submit(body, { idempotencyKey: 'k-1', caller: 'bob' });
      expect(bob.replayed).toBe(false);
      await expect(
        second.service.submit({ ...body, code: 'print(2)' }, { idempotencyKey: 'k-1', caller: 'alice' }),
      ).rejects.toMatchObject({ code: 'idempotency_conflict', field: 'idempotency-key' });
      await second.service.wait(bob.evaluation.id, 5_000);
      expect(runtime.started.filter((id) => id === a.evaluation.id)).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('followers', () => {
  test('a transition follower that falls too far behind is dropped with slow_consumer, not ended quietly', async () => {
    const runtime = new FakeRuntime({ script: () => undefined });
    const { service } = await start({ runtime, maxFollowerBacklog: 3, concurrency: 0 });
    const follower = service.followTransitions(0);
    await submit(service);
    expect((await follower.next()).value).toMatchObject({ to: 'queued' });
    // Ten transitions published while the follower does not pull.
    await Promise.all(Array.from({ length: 10 }, () => submit(service)));
    const drained: unknown[] = [];
    await expect(
      (async () => {
        for await (const t of follower) drained.push(t);
      })(),
    ).rejects.toMatchObject({ code: 'slow_consumer' });
  });

  test('waiting for log chunks does not pile up abort listeners on the caller’s signal', async () => {
    let running: FakeRun | undefined;
    const runtime = new FakeRuntime({ script: (run) => void (running = run) });
    const { service } = await start({ runtime });
    const evaluation = await submit(service);
    await settle(() => running !== undefined);
    const abort = new AbortController();
    const follower = service.followLogs(evaluation.id, { follow: true, signal: abort.signal });
    for (let i = 0; i < 50; i++) {
      const next = follower.next();
      running!.print(`line ${i}\n`);
      expect((await next).value).toMatchObject({ seq: i + 1 });
    }
    expect(getEventListeners(abort.signal, 'abort').length).toBeLessThanOrEqual(1);
    abort.abort();
    await follower.return(undefined);
    await running!.exit(0);
  });
});
