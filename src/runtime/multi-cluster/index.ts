import { createKubeApi } from '../kubernetes/kube-client.js';
import {
  KubernetesRuntime,
  parseKubernetesOptions,
  type KubernetesRuntimeOptions,
} from '../kubernetes/index.js';
import { parseQuantity } from '../kubernetes/quota.js';
import { GuardedApi } from './guarded-api.js';
import type { HealthOptions } from './health.js';
import { MultiClusterRuntime } from './runtime.js';

export { MultiClusterRuntime, type ClusterSpec, type MultiClusterOptions } from './runtime.js';
export { CLUSTER_LABEL, place, freeRoom, type ClusterView, type Placement } from './placement.js';

export interface ClusterTarget {
  /** Shown in `GET /v1/clusters` and matched by the `cluster` submission label. */
  readonly name: string;
  readonly kubeconfigPath: string;
}

export interface MultiClusterRuntimeOptions extends Partial<HealthOptions> {
  readonly clusters: readonly ClusterTarget[];
  /** Options every cluster's `KubernetesRuntime` gets (namespace, images, …), without the kubeconfig. */
  readonly kubernetes?: Omit<KubernetesRuntimeOptions, 'kubeconfigPath'>;
  readonly defaultMemoryMb?: number;
}

/**
 * Probe every second with a 2 s timeout (a busy server or API server must not look dead); out after two misses
 * in a row (a refused connection: ~1 s; a hung API: ~6 s); evaluations lost after 120 s.
 */
export const DEFAULT_HEALTH: HealthOptions = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 2000,
  failuresToUnreachable: 2,
  lostAfterMs: 120_000,
};

/**
 * One `KubernetesRuntime` per kubeconfig behind one `Runtime`. Each runtime is built as
 * `createKubernetesRuntime` builds it, except that its API goes through a `GuardedApi`, which the
 * multi-cluster runtime needs to know whether a Job can have reached a cluster that went down.
 *
 * @example
 * const runtime = await createMultiClusterRuntime({
 *   clusters: [{ name: 'eu', kubeconfigPath: 'eu.yaml' }, { name: 'us', kubeconfigPath: 'us.yaml' }],
 * });
 */
export async function createMultiClusterRuntime(
  options: MultiClusterRuntimeOptions,
): Promise<MultiClusterRuntime> {
  if (options.clusters.length === 0) throw new Error('at least one cluster is needed');
  const { clock, warn = () => undefined, whenPersisted, ...data } = options.kubernetes ?? {};
  const parsed = parseKubernetesOptions(data);
  // A failed call seen by a cluster's API makes the runtime (built below, from these) probe that cluster.
  const hooks = { suspect: (name: string): void => void name };
  const specs = await Promise.all(
    options.clusters.map(async ({ name, kubeconfigPath }) => {
      const api = await createKubeApi({ namespace: parsed.namespace, kubeconfigPath });
      const guard = new GuardedApi(api, () => hooks.suspect(name));
      const kubernetes = new KubernetesRuntime({
        api: guard.api,
        options: { ...parsed, kubeconfigPath },
        clock: clock ?? (() => new Date()),
        warn: (message) => warn(`[${name}] ${message}`),
        ...(whenPersisted ? { whenPersisted } : {}),
      });
      return {
        name,
        runtime: kubernetes,
        guard,
        probe: () => api.listResourceQuotas(),
        cpu: {
          cpuRequest: parseQuantity(parsed.cpuRequest) ?? 0,
          cpuLimit: parseQuantity(parsed.cpuLimit) ?? 0,
        },
      };
    }),
  );
  const runtime = new MultiClusterRuntime(specs, {
    ...DEFAULT_HEALTH,
    ...definedOnly({
      probeIntervalMs: options.probeIntervalMs,
      probeTimeoutMs: options.probeTimeoutMs,
      failuresToUnreachable: options.failuresToUnreachable,
      lostAfterMs: options.lostAfterMs,
    }),
    defaultMemoryMb: options.defaultMemoryMb ?? 256,
    warn,
    ...(clock ? { clock } : {}),
  });
  hooks.suspect = (name) => runtime.suspect(name);
  await runtime.startProbing();
  return runtime;
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
