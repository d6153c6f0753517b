import type { V1Job } from '@kubernetes/client-node';
import {
  createKubernetesRuntime,
  type KubernetesRuntimeOptions,
} from '../../src/runtime/kubernetes/index.js';
import type { RunRequest, Runtime } from '../../src/runtime/runtime.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { Tracked } from '../runtime/tracked.js';

export { eventually, request, Tracked } from '../runtime/tracked.js';

/** Tuning that makes the fake fast: short backoffs, bookmarks and idle timeouts so faults heal in ms. */
export const FAST: KubernetesRuntimeOptions = {
  namespace: 'crucible-test',
  backoffInitialMs: 20,
  backoffMaxMs: 300,
  watchIdleTimeoutMs: 600,
  logRetryMs: 20,
  logGraceSeconds: 5,
  unschedulableGraceSeconds: 0.3,
  deadlineAllowanceSeconds: 0,
};

export interface Env {
  cluster: FakeCluster;
  runtime: Runtime;
  warnings: string[];
  run(req: RunRequest): Promise<Tracked>;
  close(): Promise<void>;
}

export async function setup(options: KubernetesRuntimeOptions = {}): Promise<Env> {
  const cluster = await startFakeCluster();
  // Bookmarks more often than the runtime's idle timeout, so only a half-open watch looks silent.
  cluster.server.faults.bookmarkIntervalMs = 150;
  const warnings: string[] = [];
  const runtime = await createKubernetesRuntime({
    ...FAST,
    ...options,
    kubeconfigPath: cluster.kubeconfigPath,
    warn: (m) => warnings.push(m),
  });
  return {
    cluster,
    runtime,
    warnings,
    async run(req) {
      const tracked = new Tracked(req);
      await runtime.start(req, tracked);
      return tracked;
    },
    async close() {
      await runtime.close();
      await cluster.close();
    },
  };
}

/** Resolves when no Job, pod or ConfigMap of Crucible is left in the fake cluster (deleted after results were stored). */
export async function jobsGone(cluster: FakeCluster, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const jobs = cluster.store.list('jobs', 'crucible-test') as unknown as V1Job[];
    const pods = cluster.store.list('pods', 'crucible-test');
    const configMaps = cluster.store.list('configmaps', 'crucible-test');
    if (jobs.length === 0 && pods.length === 0 && configMaps.length === 0) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  // Say what is left, so a failure can be told apart from a slow machine.
  const left = (['jobs', 'pods', 'configmaps'] as const).flatMap((kind) =>
    cluster.store.list(kind, 'crucible-test'),
  );
  console.warn(
    'left behind:',
    JSON.stringify(left.map((o) => [o.kind, o.metadata.name, o.metadata.deletionTimestamp, o.status])),
  );
  return false;
}
