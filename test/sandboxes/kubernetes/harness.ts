import type { V1Pod } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import {
  createKubernetesSandboxRuntime,
  type KubernetesSandboxRuntimeOptions,
} from '../../../src/runtime/kubernetes/sandboxes/runtime.js';
import { SANDBOX_LABEL } from '../../../src/runtime/kubernetes/sandboxes/manifests.js';
import type { SandboxRuntime } from '../../../src/runtime/sandbox/sandbox-runtime.js';
import { RUNNER_BINARY } from '../../../testkit/fake-kube/kubelet.js';
import { startFakeCluster, type FakeCluster } from '../../../testkit/fake-kube/index.js';

export const NAMESPACE = 'crucible-test';

export const skipReason = !existsSync('/usr/bin/bwrap')
  ? 'bwrap is not installed (the fake kubelet runs pods in it)'
  : !existsSync(RUNNER_BINARY)
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

export interface KubeSandboxEnv {
  readonly cluster: FakeCluster;
  readonly runtime: SandboxRuntime;
  readonly warnings: string[];
  /** Another runtime on the same cluster (a restarted server). */
  another(options?: KubernetesSandboxRuntimeOptions): Promise<SandboxRuntime>;
  close(): Promise<void>;
}

export async function startKubeSandboxes(
  options: KubernetesSandboxRuntimeOptions = {},
): Promise<KubeSandboxEnv> {
  const cluster = await startFakeCluster();
  const warnings: string[] = [];
  const make = (extra: KubernetesSandboxRuntimeOptions = {}) =>
    createKubernetesSandboxRuntime({
      kubeconfigPath: cluster.kubeconfigPath,
      namespace: NAMESPACE,
      backoffInitialMs: 20,
      backoffMaxMs: 300,
      warn: (m) => warnings.push(m),
      ...options,
      ...extra,
    });
  const runtime = await make();
  const others: SandboxRuntime[] = [];
  return {
    cluster,
    runtime,
    warnings,
    async another(extra) {
      const other = await make(extra);
      others.push(other);
      return other;
    },
    async close() {
      await Promise.all([runtime, ...others].map((r) => r.close()));
      await cluster.close();
    },
  };
}

/** The pods of one sandbox in the fake cluster's store. */
export function podsOf(cluster: FakeCluster, sandboxId: string, namespace = NAMESPACE): V1Pod[] {
  return cluster.store
    .list('pods', namespace)
    .filter((p) => p.metadata.labels?.[SANDBOX_LABEL] === sandboxId) as unknown as V1Pod[];
}

/** Resolves once the store holds no pod of the sandbox (watching the store's events, never polling). */
export function podsGone(cluster: FakeCluster, sandboxId: string, namespace = NAMESPACE): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (podsOf(cluster, sandboxId, namespace).length > 0) return;
      unsubscribe();
      resolve();
    };
    const unsubscribe = cluster.store.subscribe((event) => {
      if (event.resource === 'pods') check();
    });
    check();
  });
}
