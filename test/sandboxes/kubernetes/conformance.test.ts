import { afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { createKubernetesSandboxRuntime } from '../../../src/runtime/kubernetes/sandboxes/runtime.js';
import { RUNNER_BINARY } from '../../../testkit/fake-kube/kubelet.js';
import { startFakeCluster, type FakeCluster } from '../../../testkit/fake-kube/index.js';
import { describeSandboxRuntime } from '../runtime-conformance.js';

const skip = !existsSync('/usr/bin/bwrap')
  ? 'bwrap is not installed (the fake kubelet runs pods in it)'
  : !existsSync(RUNNER_BINARY)
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

let cluster: FakeCluster | undefined;
afterAll(() => cluster?.close());

// The same suite as the local backend's, on the fake API server: pods, watches and pods/exec over WebSocket.
describeSandboxRuntime(
  'kubernetes (fake API server)',
  async () => {
    cluster = await startFakeCluster();
    return createKubernetesSandboxRuntime({
      kubeconfigPath: cluster.kubeconfigPath,
      namespace: 'crucible-test',
      backoffInitialMs: 20,
      backoffMaxMs: 300,
      warn: () => undefined,
    });
  },
  skip,
);
