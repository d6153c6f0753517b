import type { V1Job } from '@kubernetes/client-node';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Status } from '../../src/core/index.js';
import { createKubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { KUEUE_QUEUE_LABEL } from '../../src/runtime/kubernetes/manifests.js';
import { EVALUATION_LABEL, evaluationLabel } from '../../src/runtime/kubernetes/names.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { queuedEvaluation } from '../store/fixtures.js';
import { eventually, FAST } from './harness.js';

const NAMESPACE = 'crucible-test';

/** `eventually` for a fact only an async read can tell. */
async function until(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Kueue integration on the fake API server, through the whole service: the test plays Kueue's part — it
 * admits a Job by setting `spec.suspend: false`, as Kueue's controller does once the LocalQueue's
 * ClusterQueue has quota. Until then the evaluation reads `queued` (owned by the replica that made its Job).
 */
describe('Kueue: Jobs created suspended in a LocalQueue', () => {
  let cluster: FakeCluster;
  let dir: string;
  const open: InProcess[] = [];

  beforeAll(async () => {
    cluster = await startFakeCluster();
    cluster.server.faults.bookmarkIntervalMs = 150;
    dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-kueue-'));
  });
  afterEach(async () => {
    for (const node of open.splice(0)) await node.close();
  });
  afterAll(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A replica on the Kubernetes backend with `--kueue-queue team-a`, on the SQLite file `db`. */
  const replica = async (replicaId: string, db = path.join(dir, `${replicaId}.db`)) => {
    const runtime = await createKubernetesRuntime({
      ...FAST,
      kueueQueue: 'team-a',
      pendingTimeoutSeconds: 0.5,
      kubeconfigPath: cluster.kubeconfigPath,
    });
    const node = await inProcess({ runtime, store: createSqliteStore({ path: db }), replicaId });
    open.push(node);
    return node;
  };

  const jobOf = (evaluationId: string): V1Job | undefined =>
    (cluster.store.list('jobs', NAMESPACE) as unknown as V1Job[]).find(
      (job) => job.metadata?.labels?.[EVALUATION_LABEL] === evaluationLabel(evaluationId),
    );

  const podsOf = (evaluationId: string) =>
    cluster.store
      .list('pods', NAMESPACE)
      .filter((pod) => pod.metadata.labels?.[EVALUATION_LABEL] === evaluationLabel(evaluationId));

  const suspended = (evaluationId: string) =>
    eventually(() => jobOf(evaluationId)?.status?.conditions?.some((c) => c.type === 'Suspended') === true);

  const admit = (evaluationId: string) =>
    cluster.store.update('jobs', NAMESPACE, jobOf(evaluationId)!.metadata!.name!, (j) => {
      (j.spec as { suspend?: boolean }).suspend = false;
    });

  const path_ = async (node: InProcess, id: string): Promise<(Status | null)[]> => {
    const transitions = await node.service.transitionsOf(id);
    return [transitions[0]!.from, ...transitions.map((t) => t.to)];
  };

  it('reads queued while suspended — past the pending timeout — and starting, then its result, once admitted', async () => {
    const node = await replica('solo');
    const { evaluation } = await node.service.submit({ language: 'python', code: 'print("admitted")' });
    await suspended(evaluation.id);
    const job = jobOf(evaluation.id)!;
    expect(job.spec?.suspend).toBe(true);
    expect(job.metadata?.labels?.[KUEUE_QUEUE_LABEL]).toBe('team-a');
    // Longer than the pending timeout (0.5 s): queueing in Kueue is not a pod that fails to start.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(podsOf(evaluation.id)).toEqual([]);
    const waiting = await node.service.get(evaluation.id);
    expect(waiting.status).toBe('queued');
    expect(waiting.timings.dispatchedAt).toBeNull();
    expect(await path_(node, evaluation.id)).toEqual([null, 'queued']);
    // It holds this replica's slot and counts as queued, awaiting admission.
    expect(await node.service.queueStats()).toMatchObject({
      queued: { normal: 1 },
      running: 0,
      awaitingAdmission: 1,
      replica: { running: 1 },
    });

    const admittedAt = Date.now();
    admit(evaluation.id);
    const final = await node.service.wait(evaluation.id, 30_000);
    expect(final.status).toBe('succeeded');
    expect((await node.service.withOutput(final)).stdout).toBe('admitted\n');
    expect(await path_(node, evaluation.id)).toEqual([null, 'queued', 'starting', 'running', 'succeeded']);
    // Dispatched means admitted: `dispatchedAt` is the admission (queue_wait covers Crucible's and Kueue's).
    expect(Date.parse(final.timings.dispatchedAt!)).toBeGreaterThanOrEqual(admittedAt - 50);
    expect(await node.service.queueStats()).toMatchObject({ awaitingAdmission: 0, replica: { running: 0 } });
  });

  it('cancel while suspended deletes the Job and ends cancelled', async () => {
    const node = await replica('cancels');
    const { evaluation } = await node.service.submit({ language: 'python', code: 'print("never")' });
    await suspended(evaluation.id);
    const cancelled = await node.service.cancel(evaluation.id);
    expect(cancelled.status).toBe('cancelled');
    await eventually(() => jobOf(evaluation.id) === undefined);
    expect(await path_(node, evaluation.id)).toEqual([null, 'queued', 'cancelled']);
    expect(podsOf(evaluation.id)).toEqual([]);
    // The slot is freed once the delete returned (just after the Job went from the fake's store).
    await until(async () => (await node.service.queueStats()).replica.running === 0);
  });

  it('a replica that stops while its Job is suspended: the next one adopts the Job, and it runs once admitted', async () => {
    const db = path.join(dir, 'handover.db');
    const first = await replica('first', db);
    const { evaluation } = await first.service.submit({ language: 'python', code: 'print("handed over")' });
    await suspended(evaluation.id);
    const jobUid = jobOf(evaluation.id)!.metadata!.uid;
    await first.close();
    open.splice(open.indexOf(first), 1);

    const next = await replica('next', db);
    // Adopted at start: owned by the new replica, still queued, the same Job.
    expect(jobOf(evaluation.id)?.metadata?.uid).toBe(jobUid);
    expect(await next.store.listOwned('next', ['queued'])).toEqual([
      expect.objectContaining({ id: evaluation.id }),
    ]);
    expect((await next.service.queueStats()).replica.running).toBe(1);
    admit(evaluation.id);
    const final = await next.service.wait(evaluation.id, 30_000);
    expect(final.status).toBe('succeeded');
    expect((await next.service.withOutput(final)).stdout).toBe('handed over\n');
    expect(await path_(next, evaluation.id)).toEqual([null, 'queued', 'starting', 'running', 'succeeded']);
    expect(next.log.lines.map((l) => l.message)).toContainEqual(
      expect.stringContaining(`re-adopted ${evaluation.id} (from first)`),
    );
  });

  it('a held evaluation whose owner died before creating its Job is dispatched again by the next replica', async () => {
    const db = path.join(dir, 'redispatch.db');
    // The dead owner's claim: held for admission, no Job made.
    const store = createSqliteStore({ path: db });
    await store.migrate();
    const orphan = queuedEvaluation({ code: 'print("dispatched again")', runtime: 'kubernetes' });
    await store.create(orphan);
    const [held] = await store.claimQueued({
      owner: 'dead',
      max: 1,
      globalConcurrency: 10,
      agingMs: 30_000,
      dispatch: () => 'hold',
    });
    expect(held?.transition).toBeNull();
    await store.close();

    const next = await replica('heir', db);
    await suspended(orphan.id);
    expect((await next.service.get(orphan.id)).status).toBe('queued');
    expect(next.log.lines.map((l) => l.message)).toContainEqual(
      expect.stringContaining(`dispatching ${orphan.id} (from dead) again`),
    );
    admit(orphan.id);
    const final = await next.service.wait(orphan.id, 30_000);
    expect(final.status).toBe('succeeded');
    expect((await next.service.withOutput(final)).stdout).toBe('dispatched again\n');
    expect(await path_(next, orphan.id)).toEqual([null, 'queued', 'starting', 'running', 'succeeded']);
  });
});
