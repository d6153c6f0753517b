import type { V1ResourceQuota } from '@kubernetes/client-node';

/**
 * How many evaluations fit the namespace's ResourceQuotas at once. Read once when the runtime starts, so the
 * server's default concurrency matches what the cluster admits instead of leaving pods refused by quota
 * admission (the job controller would keep retrying them, but their time would be spent waiting).
 */

const SUFFIXES: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes quantity (`64Gi`, `500m`, `2`, `1e3`) as a plain number; null when it is not one. */
export function parseQuantity(text: string): number | null {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(
    text.trim(),
  );
  if (!match) return null;
  const value = Number(match[1]) * (match[2] ? (SUFFIXES[match[2]] ?? 1) : 1);
  return Number.isFinite(value) ? value : null;
}

/** What one evaluation's pod asks for (the init container's request is below the main container's). */
export interface PodFootprint {
  readonly memoryBytes: number;
  readonly cpuRequest: number;
  readonly cpuLimit: number;
}

/**
 * The smallest number of pods any hard limit admits: `count/pods` or `pods` directly, else the memory and
 * CPU limits divided by one pod's share. Null when no quota constrains pods.
 *
 * @example
 * quotaConcurrency([{ status: { hard: { pods: '20', 'requests.memory': '4Gi' } } }], footprint) // 16 at 256 MiB
 */
export function quotaConcurrency(quotas: readonly V1ResourceQuota[], pod: PodFootprint): number | null {
  const perPod: Record<string, number> = {
    pods: 1,
    'count/pods': 1,
    memory: pod.memoryBytes,
    'requests.memory': pod.memoryBytes,
    'limits.memory': pod.memoryBytes,
    cpu: pod.cpuRequest,
    'requests.cpu': pod.cpuRequest,
    'limits.cpu': pod.cpuLimit,
  };
  let fit: number | null = null;
  for (const quota of quotas) {
    // A quota with a scope selector applies to some pods only (e.g. a priority class); ours are unscoped.
    if (quota.spec?.scopes?.length || quota.spec?.scopeSelector) continue;
    const hard = quota.status?.hard ?? quota.spec?.hard ?? {};
    for (const [resource, text] of Object.entries(hard)) {
      const share = perPod[resource];
      const limit = parseQuantity(text);
      if (share === undefined || share <= 0 || limit === null) continue;
      const pods = Math.floor(limit / share + 1e-9);
      fit = fit === null ? pods : Math.min(fit, pods);
    }
  }
  return fit === null ? null : Math.max(1, fit);
}
