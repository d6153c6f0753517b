import { createKubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { runtimeConformance } from '../runtime/conformance.js';
import { eventually, FAST, setup } from './harness.js';

/** The runtime conformance suite against the Kubernetes runtime on the fake API server. */
runtimeConformance('kubernetes (fake API server)', async () => {
  const env = await setup();
  const ofEvaluation = (id: string) => (o: { metadata: { labels?: Record<string, string> } }) =>
    o.metadata.labels?.['crucible.dev/evaluation'] === id;
  return {
    runtime: env.runtime,
    createRuntime: () => createKubernetesRuntime({ ...FAST, kubeconfigPath: env.cluster.kubeconfigPath }),
    afterRestart: 'adopted',
    // The fake kubelet enforces memory with the bwrap sandbox's cgroup, not in its unisolated fallback.
    enforcesMemory: env.cluster.isolation === 'bwrap',
    released: (id) =>
      eventually(
        () =>
          !['jobs', 'pods', 'configmaps'].some((kind) =>
            env.cluster.store.list(kind as 'jobs', FAST.namespace!).some(ofEvaluation(id)),
          ),
        10_000,
      ),
    close: () => env.close(),
  };
});
