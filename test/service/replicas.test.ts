import { afterEach, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type LogChunk, type Transition } from '../../src/core/index.js';
import { EventBus, StoreEventFeed } from '../../src/events/index.js';
import { EvaluationService } from '../../src/service/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { FakeRuntime, type FakeRuntimeOptions } from '../support/fake-runtime.js';
import { FlakyStore } from '../support/flaky-store.js';
import { MemoryLogger } from '../support/in-process.js';
import { TestSchemas, describePostgres } from '../support/postgres.js';

interface Replica {
  readonly service: EvaluationService;
  readonly bus: EventBus;
  readonly runtime: FakeRuntime;
  readonly store: EvaluationStore;
}

const LEASE_MS = 400;

/**
 * Several services in this process on one PostgreSQL schema, each with its own store connection, bus and
 * store-fed event feed, as separate replicas would be: what one writes, the others see through the store.
 */
describePostgres('replicas of the service on one PostgreSQL database', () => {
  const schemas = new TestSchemas();
  const replicas: Replica[] = [];
  const stores: EvaluationStore[] = [];

  afterEach(async () => {
    for (const { service } of replicas.splice(0)) await service.stop();
    for (const store of stores.splice(0)) await store.close();
    await schemas.dropAll();
  });

  async function replica(
    schema: string,
    id: string,
    options: {
      work?: boolean;
      runtime?: FakeRuntimeOptions;
      globalConcurrency?: number;
      wrap?: (s: EvaluationStore) => EvaluationStore;
    } = {},
  ): Promise<Replica> {
    const raw = schemas.store(schema);
    stores.push(raw);
    await raw.migrate();
    const store = options.wrap ? options.wrap(raw) : raw;
    const bus = new EventBus();
    const feed = new StoreEventFeed(store, bus, (error) => {
      throw error;
    });
    const runtime = new FakeRuntime(options.runtime);
    const service = new EvaluationService({
      store,
      runtime,
      bus,
      feed,
      replicaId: id,
      concurrency: 2,
      ...(options.globalConcurrency === undefined ? {} : { globalConcurrency: options.globalConcurrency }),
      leaseMs: LEASE_MS,
      agingMs: 30_000,
      defaultLimits: DEFAULT_LIMITS,
      log: new MemoryLogger(),
    });
    await service.start({ work: options.work ?? true });
    const made = { service, runtime, store, bus };
    replicas.push(made);
    return made;
  }

  async function collect<T>(source: AsyncGenerator<T>, until: (item: T) => boolean): Promise<T[]> {
    const items: T[] = [];
    for await (const item of source) {
      items.push(item);
      if (until(item)) break;
    }
    return items;
  }

  it('a replica that does not work streams the transitions and live output of a run on another', async () => {
    const schema = schemas.name();
    const api = await replica(schema, 'api-only', { work: false });
    let release!: () => void;
    const printed = new Promise<void>((resolve) => (release = resolve));
    const worker = await replica(schema, 'worker', {
      runtime: {
        script: async (run) => {
          run.print('one\n');
          await printed;
          run.print('two\n');
          await run.exit(0);
        },
      },
    });
    const { evaluation } = await api.service.submit({ language: 'python', code: 'x' });
    const events = collect(api.service.followTransitions(0), (t: Transition) => t.to === 'succeeded');
    const logs = api.service.followLogs(evaluation.id, { follow: true });
    const first = await logs.next();
    expect(Buffer.from((first.value as LogChunk).data).toString()).toBe('one\n');
    release();
    const rest = await collect(logs, () => false);
    expect(rest.map((c) => Buffer.from(c.data).toString())).toEqual(['two\n']);
    const seen = await events;
    expect(seen.map((t) => t.to)).toEqual(['queued', 'starting', 'running', 'succeeded']);
    expect(seen.map((t) => t.seq)).toEqual([...seen.map((t) => t.seq)].sort((a, b) => a - b));
    expect(worker.runtime.started).toEqual([evaluation.id]);
    expect((await api.service.wait(evaluation.id, 1000)).status).toBe('succeeded');
  });

  it('its own transitions pass for its own even when their NOTIFY is read before the write returns', async () => {
    const schema = schemas.name();
    // Each write returns only a while after it committed: the feed reads the commit first.
    const slowReturns = (store: EvaluationStore): EvaluationStore => ({
      ...bindAll(store),
      saveTransition: async (write) => {
        const saved = await store.saveTransition(write);
        await new Promise((resolve) => setTimeout(resolve, 30));
        return saved;
      },
    });
    const worker = await replica(schema, 'worker', { wrap: slowReturns });
    const own: boolean[] = [];
    worker.bus.onTransition(({ evaluation }) => own.push(evaluation !== undefined));
    const { evaluation } = await worker.service.submit({ language: 'python', code: 'print(1)' });
    const final = await worker.service.wait(evaluation.id, 5_000);
    expect(final.status).toBe('succeeded');
    expect((await worker.service.withOutput(final)).stdout).toBe('print(1)');
    await expect.poll(() => own.length).toBe(4);
    expect(own).toEqual([true, true, true, true]);
  });

  it('a cancel that reaches another replica kills the run where it runs and frees its slot there', async () => {
    const schema = schemas.name();
    const api = await replica(schema, 'api-only', { work: false });
    const worker = await replica(schema, 'worker', { runtime: { script: () => undefined } });
    const { evaluation } = await api.service.submit({ language: 'python', code: 'x' });
    await expect.poll(() => worker.runtime.alive.length).toBe(1);
    const cancelled = await api.service.cancel(evaluation.id);
    expect(cancelled.status).toBe('cancelled');
    await expect.poll(() => worker.runtime.alive.length).toBe(0);
    await expect.poll(async () => (await worker.service.queueStats()).replica.running).toBe(0);
    const steps = (await api.service.transitionsOf(evaluation.id)).map((t) => t.to);
    expect(steps).toEqual(['queued', 'starting', 'running', 'cancelled']);
  });

  it('work of a replica that stopped renewing its lease is taken over once the lease runs out, once', async () => {
    const schema = schemas.name();
    let dead: FlakyStore | undefined;
    const doomed = await replica(schema, 'doomed', {
      runtime: { script: (run) => run.print('partial\n') },
      wrap: (store) => (dead = new FlakyStore(store, ['renewLease', 'saveTransition', 'appendLogs'])).store,
    });
    const { evaluation } = await doomed.service.submit({ language: 'python', code: 'x' });
    await expect
      .poll(async () => (await doomed.service.withOutput(await doomed.service.get(evaluation.id))).stdout)
      .toBe('partial\n');
    // The process "dies": nothing it does reaches the database any more.
    dead!.failuresLeft = Number.MAX_SAFE_INTEGER;
    const diedAt = Date.now();
    const survivor = await replica(schema, 'survivor');
    const final = await survivor.service.wait(evaluation.id, 10 * LEASE_MS);
    expect(final.status).toBe('error');
    expect(final.result?.reason).toBe('lost_on_restart');
    expect(Date.now() - diedAt).toBeGreaterThanOrEqual(LEASE_MS / 2);
    const { stdout } = await survivor.service.withOutput(final);
    expect(stdout).toBe('partial\n');
    expect(survivor.runtime.started).toEqual([]);
    const steps = (await survivor.service.transitionsOf(evaluation.id)).map((t) => t.to);
    expect(steps).toEqual(['queued', 'starting', 'running', 'error']);
  });

  it('a run held for admission stays queued holding a slot; a cancel from another replica kills it there', async () => {
    const schema = schemas.name();
    const api = await replica(schema, 'api-only', { work: false });
    const worker = await replica(schema, 'worker', {
      globalConcurrency: 1,
      runtime: { awaitsAdmission: true, script: (run) => void run.exit(0) },
    });
    const first = (await api.service.submit({ language: 'python', code: 'x' })).evaluation;
    const second = (await api.service.submit({ language: 'python', code: 'y' })).evaluation;
    await expect.poll(() => worker.runtime.started).toEqual([first.id]);
    // Held: still queued, and it fills the global limit, so the second waits unclaimed.
    expect((await api.service.get(first.id)).status).toBe('queued');
    expect(await api.service.queueStats()).toMatchObject({
      queued: { normal: 2 },
      running: 0,
      awaitingAdmission: 1,
    });
    expect((await worker.service.queueStats()).replica.running).toBe(1);

    expect((await api.service.cancel(first.id)).status).toBe('cancelled');
    await expect.poll(() => worker.runtime.runs.get(first.id)?.alive).toBe(false);
    // Its slot freed, the second is claimed (held in turn); admitted, it runs.
    await expect.poll(() => worker.runtime.started).toEqual([first.id, second.id]);
    await worker.runtime.admit(second.id);
    expect((await api.service.wait(second.id, 5_000)).status).toBe('succeeded');
    const steps = async (id: string) => (await api.service.transitionsOf(id)).map((t) => t.to);
    expect(await steps(first.id)).toEqual(['queued', 'cancelled']);
    expect(await steps(second.id)).toEqual(['queued', 'starting', 'running', 'succeeded']);
  });

  it('a held run of a replica that stopped renewing its lease is dispatched again when its runtime lost it', async () => {
    const schema = schemas.name();
    let dead: FlakyStore | undefined;
    const doomed = await replica(schema, 'doomed', {
      runtime: { awaitsAdmission: true },
      wrap: (store) => (dead = new FlakyStore(store, ['renewLease', 'saveTransition', 'appendLogs'])).store,
    });
    const { evaluation } = await doomed.service.submit({ language: 'python', code: 'x' });
    await expect.poll(() => doomed.runtime.started).toEqual([evaluation.id]);
    dead!.failuresLeft = Number.MAX_SAFE_INTEGER;
    // The survivor's runtime finds no such run (as when the Job was never created): it starts it again.
    const survivor = await replica(schema, 'survivor', { runtime: { awaitsAdmission: true } });
    await expect.poll(() => survivor.runtime.started, { timeout: 10 * LEASE_MS }).toEqual([evaluation.id]);
    expect((await survivor.service.get(evaluation.id)).status).toBe('queued');
    await survivor.runtime.admit(evaluation.id);
    const final = await survivor.service.wait(evaluation.id, 5_000);
    expect(final.status).toBe('succeeded');
    const steps = (await survivor.service.transitionsOf(evaluation.id)).map((t) => t.to);
    expect(steps).toEqual(['queued', 'starting', 'running', 'succeeded']);
  });
});

/** The store's methods bound to it, so a spread copy can override one of them. */
function bindAll(store: EvaluationStore): EvaluationStore {
  const bound: Record<string, unknown> = {};
  let proto: object | null = store;
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value = (store as unknown as Record<string, unknown>)[name];
      if (name !== 'constructor' && !(name in bound)) {
        bound[name] = typeof value === 'function' ? value.bind(store) : value;
      }
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return bound as unknown as EvaluationStore;
}
