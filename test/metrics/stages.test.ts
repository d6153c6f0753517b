import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvent, stageDurations, type PlatformStages, type Timings } from '../../src/core/index.js';
import { createKubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { platformStages } from '../../src/runtime/kubernetes/status.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { describePostgres, TestSchemas } from '../support/postgres.js';
import { FAST } from '../kubernetes/harness.js';
import { moveTo, queuedEvaluation } from '../store/fixtures.js';

const PLATFORM_KEYS = [
  'jobCreatedAt',
  'podScheduledAt',
  'containerStartedAt',
  'containerFinishedAt',
] as const;

describe('stage durations', () => {
  const timings: Timings = {
    submittedAt: '2026-01-01T00:00:00.000Z',
    dispatchedAt: '2026-01-01T00:00:00.012Z',
    startedAt: '2026-01-01T00:00:00.100Z',
    finishedAt: '2026-01-01T00:00:01.100Z',
    storedAt: '2026-01-01T00:00:01.103Z',
  };

  it('derives each stage from two stored timestamps', () => {
    expect(stageDurations(timings)).toEqual({
      queueMs: 12,
      startMs: 88,
      runMs: 1000,
      storeMs: 3,
      totalMs: 1103,
    });
  });

  it('leaves a stage not reached null (a queued evaluation cancelled never started)', () => {
    const cancelled = { ...timings, dispatchedAt: null, startedAt: null };
    expect(stageDurations(cancelled)).toMatchObject({
      queueMs: null,
      startMs: null,
      runMs: null,
      storeMs: 3,
    });
  });

  it('keeps the first platform stamp when a relist shows the same pod again', () => {
    const queued = queuedEvaluation();
    const dispatched = applyEvent(
      queued,
      { type: 'dispatched', at: new Date(), runtime: 'kubernetes' },
      new Date(),
    )!;
    const first: Partial<PlatformStages> = { jobCreatedAt: '2026-01-01T00:00:01.000Z', podScheduledAt: null };
    const started = applyEvent(
      dispatched.evaluation,
      { type: 'started', at: new Date(), platform: first },
      new Date(),
    )!;
    expect(started.evaluation.timings.jobCreatedAt).toBe('2026-01-01T00:00:01.000Z');
    expect('podScheduledAt' in started.evaluation.timings).toBe(false);
    const now = new Date();
    const finished = applyEvent(
      started.evaluation,
      {
        type: 'finished',
        outcome: {
          kind: 'error',
          reason: 'infrastructure',
          message: 'gone',
          at: now,
          platform: { jobCreatedAt: '2026-01-01T00:00:09.000Z', podScheduledAt: '2026-01-01T00:00:02.000Z' },
        },
        output: { stdoutTruncated: false, stderrTruncated: false },
      },
      now,
    )!;
    expect(finished.evaluation.timings).toMatchObject({
      jobCreatedAt: '2026-01-01T00:00:01.000Z',
      podScheduledAt: '2026-01-01T00:00:02.000Z',
    });
  });

  it('reads the Kubernetes stages from the Job and pod (PodScheduled True, the main container)', () => {
    const job = { metadata: { creationTimestamp: new Date('2026-01-01T00:00:01Z') } } as V1Job;
    const pod = {
      status: {
        conditions: [
          { type: 'Initialized', status: 'True', lastTransitionTime: '2026-01-01T00:00:09Z' },
          { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-01T00:00:02Z' },
        ],
        containerStatuses: [
          {
            name: 'main',
            state: { terminated: { startedAt: '2026-01-01T00:00:03Z', finishedAt: '2026-01-01T00:00:04Z' } },
          },
        ],
      },
    } as unknown as V1Pod;
    expect(platformStages(job, pod)).toEqual({
      jobCreatedAt: '2026-01-01T00:00:01.000Z',
      podScheduledAt: '2026-01-01T00:00:02.000Z',
      containerStartedAt: '2026-01-01T00:00:03.000Z',
      containerFinishedAt: '2026-01-01T00:00:04.000Z',
    });
    expect(platformStages(job, undefined)).toMatchObject({ podScheduledAt: null, containerStartedAt: null });
  });
});

/** The stages a store keeps: written with a transition, read back as they were; absent while none was seen. */
function storeRoundTrip(store: () => EvaluationStore) {
  it('stores the platform stages with the transition and reads them back', async () => {
    const queued = queuedEvaluation({ runtime: 'kubernetes' });
    await store().create(queued);
    const started = moveTo(queued, 'running', {
      timings: {
        ...queued.timings,
        startedAt: '2026-01-01T00:00:03.000Z',
        jobCreatedAt: '2026-01-01T00:00:01.000Z',
        podScheduledAt: '2026-01-01T00:00:02.000Z',
        containerStartedAt: '2026-01-01T00:00:03.000Z',
      },
    });
    expect(await store().saveTransition(started)).not.toBeNull();
    const read = (await store().get(queued.id))!;
    expect(read.timings).toEqual(started.evaluation.timings);
    expect('containerFinishedAt' in read.timings).toBe(false);

    const plain = queuedEvaluation();
    await store().create(plain);
    const read2 = (await store().get(plain.id))!;
    expect(PLATFORM_KEYS.some((key) => key in read2.timings)).toBe(false);
  });
}

describe('SQLite store: platform stages', () => {
  let sqlite: EvaluationStore;
  beforeAll(async () => {
    sqlite = createSqliteStore({ path: ':memory:' });
    await sqlite.migrate();
  });
  afterAll(() => sqlite.close());
  storeRoundTrip(() => sqlite);
});

describePostgres('PostgreSQL store: platform stages', () => {
  const schemas = new TestSchemas();
  let pg: EvaluationStore;
  beforeAll(async () => {
    pg = schemas.store();
    await pg.migrate();
  });
  afterAll(async () => {
    await pg.close();
    await schemas.dropAll();
  });
  storeRoundTrip(() => pg);
});

interface View {
  status: string;
  timings: Record<string, string | null>;
  durations: Record<string, number | null>;
}

async function runThroughApi(env: InProcess): Promise<View> {
  const app = await env.api();
  const submitted = await app.inject({
    method: 'POST',
    url: '/v1/evaluations',
    payload: { language: 'python', code: 'print(1)' },
  });
  expect(submitted.statusCode).toBe(202);
  const { id } = submitted.json<{ id: string }>();
  const final = await app.inject({ method: 'GET', url: `/v1/evaluations/${id}?wait=30` });
  return final.json<View>();
}

function expectDurationsMatch(view: View): void {
  const ms = (key: string) => Date.parse(view.timings[key]!);
  expect(view.durations).toEqual({
    queueMs: ms('dispatchedAt') - ms('submittedAt'),
    startMs: ms('startedAt') - ms('dispatchedAt'),
    runMs: ms('finishedAt') - ms('startedAt'),
    storeMs: ms('storedAt') - ms('finishedAt'),
    totalMs: ms('storedAt') - ms('submittedAt'),
  });
}

describe('the same fields on both backends', () => {
  let cluster: FakeCluster;
  let kube: Runtime;
  beforeAll(async () => {
    cluster = await startFakeCluster();
    kube = await createKubernetesRuntime({
      ...FAST,
      kubeconfigPath: cluster.kubeconfigPath,
      warn: () => undefined,
    });
  });
  afterAll(async () => {
    await cluster.close();
  });

  it('Kubernetes: the Job, pod and container stages, in order, and the durations', async () => {
    const env = await inProcess({ runtime: kube });
    try {
      const view = await runThroughApi(env);
      expect(view.status).toBe('succeeded');
      for (const key of PLATFORM_KEYS) expect(view.timings[key], key).toEqual(expect.any(String));
      const at = (key: string) => Date.parse(view.timings[key]!);
      // The API server's stamps have one-second resolution: compare them at that resolution.
      const second = (key: string) => Math.floor(at(key) / 1000);
      expect(second('jobCreatedAt')).toBeGreaterThanOrEqual(Math.floor(at('dispatchedAt') / 1000));
      expect(at('podScheduledAt')).toBeGreaterThanOrEqual(at('jobCreatedAt'));
      expect(at('containerStartedAt')).toBeGreaterThanOrEqual(at('podScheduledAt'));
      expect(at('containerFinishedAt')).toBeGreaterThanOrEqual(at('containerStartedAt'));
      expect(second('containerFinishedAt')).toBeLessThanOrEqual(Math.floor(at('storedAt') / 1000));
      expectDurationsMatch(view);
    } finally {
      await env.close();
    }
  });

  it('local (any runtime without a platform): the same keys, null', async () => {
    const env = await inProcess({ runtime: new FakeRuntime() });
    try {
      const view = await runThroughApi(env);
      expect(view.status).toBe('succeeded');
      for (const key of PLATFORM_KEYS) expect(view.timings[key], key).toBeNull();
      expectDurationsMatch(view);
    } finally {
      await env.close();
    }
  });
});
