import { parseQuantity } from '../../src/runtime/kubernetes/quota.js';
import { StoreError, type KObject, type ObjectStore, type Resource } from './store.js';

/** What the namespace controller empties when a namespace is deleted (Jobs first: their pods go with them). */
const NAMESPACED: readonly Resource[] = [
  'jobs',
  'pods',
  'configmaps',
  'networkpolicies',
  'resourcequotas',
  'limitranges',
  'leases',
];

interface Container {
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** Pods that count against a quota: those not yet Succeeded or Failed, as the quota evaluator counts them. */
function countedPods(store: ObjectStore, namespace: string): KObject[] {
  return store
    .list('pods', namespace)
    .filter((p) => p.status?.['phase'] !== 'Succeeded' && p.status?.['phase'] !== 'Failed');
}

/** One pod's usage of a quota resource: the sum over its containers (`requests.memory`, `limits.cpu`, …). */
function usageOf(pod: KObject, resource: string): number {
  if (resource === 'pods' || resource === 'count/pods') return 1;
  const [kind, name] = resource.includes('.') ? resource.split('.') : ['requests', resource];
  const containers = ((pod.spec?.['containers'] ?? []) as Container[]).map((c) => c.resources ?? {});
  return containers.reduce((sum, r) => {
    const value = kind === 'limits' ? r.limits?.[name!] : (r.requests?.[name!] ?? r.limits?.[name!]);
    return sum + (parseQuantity(value ?? '0') ?? 0);
  }, 0);
}

const TRACKED = [
  'pods',
  'count/pods',
  'memory',
  'requests.memory',
  'limits.memory',
  'cpu',
  'requests.cpu',
  'limits.cpu',
];

/** A quantity as the API server prints it: the largest binary unit for memory, millicores for CPU. */
function quantity(resource: string, value: number): string {
  if (resource.endsWith('memory')) {
    for (const [unit, size] of [
      ['Gi', 2 ** 30],
      ['Mi', 2 ** 20],
      ['Ki', 2 ** 10],
    ] as const) {
      if (value > 0 && value % size === 0) return `${value / size}${unit}`;
    }
    return String(value);
  }
  if (resource.endsWith('cpu') && !Number.isInteger(value)) return `${Math.round(value * 1000)}m`;
  return String(value);
}

/**
 * ResourceQuota admission for a new pod, as the API server's quota plugin does it: every unscoped quota of
 * the namespace whose hard limits the pod would pass refuses it with 403 Forbidden and the real message
 * (`pods "x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`).
 * Quantities are compared as numbers and printed as the quota wrote them.
 */
export function admitPod(store: ObjectStore, namespace: string, pod: KObject): void {
  const counted = countedPods(store, namespace);
  for (const quota of store.list('resourcequotas', namespace)) {
    const spec = (quota.spec ?? {}) as { hard?: Record<string, string>; scopes?: string[] };
    if ((spec.scopes ?? []).length > 0) continue;
    const exceeded = Object.entries(spec.hard ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .filter(([resource, hard]) => {
        if (!TRACKED.includes(resource)) return false;
        const used = counted.reduce((sum, p) => sum + usageOf(p, resource), 0);
        return used + usageOf(pod, resource) > (parseQuantity(hard) ?? Infinity);
      });
    if (exceeded.length === 0) continue;
    const list = (pick: (resource: string, hard: string) => string) =>
      exceeded.map(([resource, hard]) => `${resource}=${pick(resource, hard)}`).join(',');
    const used = (resource: string) =>
      quantity(
        resource,
        counted.reduce((sum, p) => sum + usageOf(p, resource), 0),
      );
    const name = pod.metadata.name || `${pod.metadata.generateName ?? ''}xxxxx`;
    throw new StoreError(
      403,
      'Forbidden',
      `pods "${name}" is forbidden: exceeded quota: ${quota.metadata.name}, ` +
        `requested: ${list((r) => quantity(r, usageOf(pod, r)))}, used: ${list(used)}, limited: ${list((_r, h) => h)}`,
      { name, kind: 'pods' },
    );
  }
}

/**
 * The namespace controller, simplified: deleting a namespace deletes everything in it (a Job's pods by
 * Background cascade through `jobDeleted`). A real namespace stays `Terminating` until its content is gone;
 * here the namespace object is gone at once and its pods (finalizers, kubelet) follow as they finish.
 */
export function emptyNamespace(
  store: ObjectStore,
  namespace: string,
  jobDeleted: (job: KObject) => void,
): void {
  for (const resource of NAMESPACED) {
    for (const object of store.list(resource, namespace)) {
      const gone = store.delete(resource, namespace, object.metadata.name);
      if (gone && resource === 'jobs') jobDeleted(gone);
    }
  }
}
