import type { V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUEUE_QUEUE_LABEL } from '../../src/runtime/kubernetes/manifests.js';
import { EVALUATION_LABEL, evaluationLabel } from '../../src/runtime/kubernetes/names.js';
import { eventually, request, setup, type Env } from './harness.js';

const NAMESPACE = 'crucible-test';

/**
 * Kueue integration on the fake API server: the test plays Kueue's part — it admits a Job by setting
 * `spec.suspend: false`, as Kueue's controller does once the LocalQueue's ClusterQueue has quota.
 */
describe('Kueue: Jobs created suspended in a LocalQueue', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup({ kueueQueue: 'team-a', pendingTimeoutSeconds: 0.5 });
  });
  afterAll(async () => env.close());

  const jobOf = (evaluationId: string): V1Job | undefined =>
    (env.cluster.store.list('jobs', NAMESPACE) as unknown as V1Job[]).find(
      (job) => job.metadata?.labels?.[EVALUATION_LABEL] === evaluationLabel(evaluationId),
    );

  const admit = (job: V1Job) =>
    env.cluster.store.update('jobs', NAMESPACE, job.metadata!.name!, (j) => {
      (j.spec as { suspend?: boolean }).suspend = false;
    });

  it('waits unstarted while suspended — past the pending timeout — and runs once admitted', async () => {
    const req = request('print("admitted")');
    const tracked = await env.run(req);
    let job: V1Job | undefined;
    await eventually(() => (job = jobOf(req.evaluationId)) !== undefined);
    expect(job!.spec?.suspend).toBe(true);
    expect(job!.metadata?.labels?.[KUEUE_QUEUE_LABEL]).toBe('team-a');
    // The Job controller reports it suspended and makes no pod.
    await eventually(
      () => jobOf(req.evaluationId)?.status?.conditions?.some((c) => c.type === 'Suspended') === true,
    );
    // Longer than the pending timeout (0.5 s): queueing in Kueue is not a pod that fails to start.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(env.cluster.store.list('pods', NAMESPACE)).toEqual([]);
    expect(tracked.evaluation.status).toBe('starting');
    expect(tracked.evaluation.timings.startedAt).toBeNull();

    admit(jobOf(req.evaluationId)!);
    await tracked.until();
    expect([tracked.evaluation.status, tracked.out]).toEqual(['succeeded', 'admitted\n']);
  });
});
