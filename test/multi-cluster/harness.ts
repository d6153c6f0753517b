import type { FastifyInstance } from 'fastify';
import {
  createMultiClusterRuntime,
  type MultiClusterRuntime,
} from '../../src/runtime/multi-cluster/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { FAST } from '../kubernetes/harness.js';
import { inProcess, type InProcess } from '../support/in-process.js';

export const NAMESPACE = 'crucible-test';

/** A fake cluster plus the evaluation labels of every Job ever created in it (to prove nothing ran twice). */
export interface NamedCluster {
  readonly name: string;
  readonly fake: FakeCluster;
  readonly jobsCreated: string[];
  port: number;
}

export interface Env {
  readonly clusters: NamedCluster[];
  readonly runtime: MultiClusterRuntime;
  readonly service: InProcess['service'];
  readonly store: EvaluationStore;
  readonly warnings: string[];
  api(): Promise<FastifyInstance>;
  clusterView(): Promise<{ name: string; health: string; running: number; capacity: number | null }[]>;
  /** Its API server stops answering (connections refused); kubelet and controllers go on, as on a node. */
  kill(name: string): Promise<void>;
  /** Its API server answers again on the same port, with the objects it had. */
  revive(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startRuntime(
  clusters: readonly NamedCluster[],
  lostAfterMs: number,
  warnings: string[],
  probeIntervalMs = 200,
): Promise<MultiClusterRuntime> {
  return createMultiClusterRuntime({
    clusters: clusters.map((c) => ({ name: c.name, kubeconfigPath: c.fake.kubeconfigPath })),
    probeIntervalMs,
    // Generous: the test machine is shared and busy; a refused connection fails at once anyway.
    probeTimeoutMs: 2000,
    failuresToUnreachable: 2,
    lostAfterMs,
    kubernetes: { ...FAST, warn: (m) => warnings.push(m) },
  });
}

/** Fake clusters by name, each with a ResourceQuota of that many pods. */
export async function startClusters(podQuotas: Readonly<Record<string, number>>): Promise<NamedCluster[]> {
  return Promise.all(
    Object.entries(podQuotas).map(async ([name, podQuota]) => {
      const fake = await startFakeCluster();
      fake.server.faults.bookmarkIntervalMs = 150;
      const hard = { 'count/pods': String(podQuota) };
      fake.store.create('resourcequotas', NAMESPACE, {
        metadata: { name: 'evaluations' },
        spec: { hard },
        status: { hard },
      });
      const jobsCreated: string[] = [];
      fake.store.subscribe((event) => {
        const label = event.object.metadata.labels?.['crucible.dev/evaluation'];
        if (event.type === 'ADDED' && event.resource === 'jobs' && label) jobsCreated.push(label);
      });
      return { name, fake, jobsCreated, port: fake.server.port };
    }),
  );
}

/** The real service, with its API, over two fake clusters. */
export async function setup(options: { lostAfterMs: number; concurrency: number }): Promise<Env> {
  const clusters = await startClusters({ east: 40, west: 40 });
  const warnings: string[] = [];
  const runtime = await startRuntime(clusters, options.lostAfterMs, warnings);
  const env = await inProcess({ runtime, concurrency: options.concurrency });
  const byName = (name: string) => clusters.find((c) => c.name === name)!;
  return {
    clusters,
    runtime,
    service: env.service,
    store: env.store,
    warnings,
    api: () => env.api(),
    async clusterView() {
      const app = await env.api();
      const response = await app.inject({ method: 'GET', url: '/v1/clusters' });
      return (response.json() as { clusters: Awaited<ReturnType<Env['clusterView']>> }).clusters;
    },
    async kill(name) {
      const cluster = byName(name);
      cluster.port = cluster.fake.server.port;
      await cluster.fake.server.stop();
    },
    async revive(name) {
      const cluster = byName(name);
      await cluster.fake.server.listen(cluster.port);
    },
    async close() {
      await env.close();
      await Promise.all(clusters.map((c) => c.fake.close()));
    },
  };
}

/** Polls until `condition` holds (for facts no event announces: a health probe's verdict). */
export async function until<T>(
  read: () => Promise<T>,
  holds: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (holds(value)) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
