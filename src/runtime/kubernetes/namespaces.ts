import type { V1LimitRange, V1Namespace, V1NetworkPolicy, V1ResourceQuota } from '@kubernetes/client-node';
import type { PlatformErrorOutcome, ProjectPlacement } from '../../core/index.js';
import { retryUntil, type RetryOptions } from './backoff.js';
import { KubeError, toKubeError, type KubeApi, type NamespacedKubeApi } from './kube-client.js';
import { MANAGED_LABEL, MANAGED_VALUE, PROJECT_LABEL } from './names.js';

export const PROJECT_POLICY_NAME = 'crucible-project-isolation';
export const PROJECT_QUOTA_NAME = 'crucible-project';
export const PROJECT_LIMIT_RANGE_NAME = 'crucible-project';
/** Selects the Jobs and pods of every project, across namespaces: what the project monitor lists and watches. */
export const PROJECT_SELECTOR = `${MANAGED_LABEL}=${MANAGED_VALUE},${PROJECT_LABEL}`;

export interface ProjectManifests {
  readonly namespace: V1Namespace;
  readonly networkPolicy: V1NetworkPolicy;
  /** Absent when the project sets no limit. */
  readonly resourceQuota?: V1ResourceQuota;
  readonly limitRange?: V1LimitRange;
}

/** Labels of every project object; the namespace also carries Pod Security `restricted`. */
function projectLabels(project: ProjectPlacement, user?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'crucible',
    [MANAGED_LABEL]: MANAGED_VALUE,
    [PROJECT_LABEL]: project.id,
    ...(user ? { 'crucible.dev/user': user } : {}),
  };
}

/**
 * The objects of one project's namespace. Pure. The NetworkPolicy selects every pod of the namespace and
 * lists both policy types: with no ingress rule nothing may connect to them (pods of other projects
 * included), and egress is allowed only to the project's CIDRs — none by default, so not even DNS.
 */
export function buildProjectManifests(project: ProjectPlacement, user?: string): ProjectManifests {
  const labels = projectLabels(project, user);
  const metadata = { namespace: project.namespace, labels };
  const namespace: V1Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: project.namespace,
      labels: {
        ...labels,
        // Pod Security admission: our pods already meet `restricted`; anything else is refused.
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
      },
    },
  };
  const networkPolicy: V1NetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: PROJECT_POLICY_NAME, ...metadata },
    spec: {
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
      ...(project.egress.length > 0
        ? { egress: [{ to: project.egress.map((cidr) => ({ ipBlock: { cidr } })) }] }
        : {}),
    },
  };
  const { memoryMb, maxConcurrent, cpu } = project.limits;
  const hard: Record<string, string> = {};
  if (maxConcurrent !== undefined) hard['pods'] = String(maxConcurrent);
  if (memoryMb !== undefined) {
    hard['requests.memory'] = `${memoryMb}Mi`;
    hard['limits.memory'] = `${memoryMb}Mi`;
  }
  if (cpu !== undefined) {
    hard['requests.cpu'] = cpuQuantity(cpu);
    hard['limits.cpu'] = cpuQuantity(cpu);
  }
  const limited = Object.keys(hard).length > 0;
  const max: Record<string, string> = {};
  if (memoryMb !== undefined) max['memory'] = `${memoryMb}Mi`;
  if (cpu !== undefined) max['cpu'] = cpuQuantity(cpu);
  return {
    namespace,
    networkPolicy,
    ...(limited
      ? {
          resourceQuota: {
            apiVersion: 'v1',
            kind: 'ResourceQuota',
            metadata: { name: PROJECT_QUOTA_NAME, ...metadata },
            spec: { hard },
          },
        }
      : {}),
    // No single container may ask for more than the whole project has: such a pod could never be admitted.
    ...(Object.keys(max).length > 0
      ? {
          limitRange: {
            apiVersion: 'v1',
            kind: 'LimitRange',
            metadata: { name: PROJECT_LIMIT_RANGE_NAME, ...metadata },
            spec: { limits: [{ type: 'Container', max }] },
          },
        }
      : {}),
  };
}

/** Millicores, the form the API server prints back (`1500m`), so quotas compare as written. */
function cpuQuantity(cores: number): string {
  return `${Math.round(cores * 1000)}m`;
}

/** In creation order: the namespace first, then what lives in it. */
export function renderProjectManifests(project: ProjectPlacement, user?: string): object[] {
  const m = buildProjectManifests(project, user);
  return [
    m.namespace,
    m.networkPolicy,
    ...(m.resourceQuota ? [m.resourceQuota] : []),
    ...(m.limitRange ? [m.limitRange] : []),
  ];
}

/**
 * Makes each project's namespace once per runtime (on the first evaluation that needs it) and removes it
 * with the project. Creates are idempotent (409 keeps what is there), so a second replica or a restart just
 * finds the objects; a failed ensure is tried again by the next evaluation.
 */
export class ProjectNamespaces {
  private readonly ensured = new Map<string, Promise<NamespacedKubeApi>>();

  constructor(private readonly api: KubeApi) {}

  /** The namespaced API of a project, with its namespace and objects made first. */
  ensure(project: ProjectPlacement, retry: RetryOptions): Promise<NamespacedKubeApi> {
    let ready = this.ensured.get(project.namespace);
    if (!ready) {
      ready = this.create(project, retry).catch((error: unknown) => {
        this.ensured.delete(project.namespace);
        throw toKubeError(error);
      });
      this.ensured.set(project.namespace, ready);
    }
    return ready;
  }

  /** The namespaced API without creating anything (adopting, cancelling). */
  apiFor(namespace: string): NamespacedKubeApi {
    return this.projectApi().inNamespace(namespace);
  }

  async remove(project: ProjectPlacement, retry: RetryOptions): Promise<void> {
    this.ensured.delete(project.namespace);
    const api = this.projectApi();
    await retryUntil(
      `delete Namespace ${project.namespace}`,
      () => api.deleteNamespace(project.namespace),
      retry,
    );
  }

  private projectApi() {
    const projects = this.api.projects;
    if (!projects) {
      throw new KubeError(
        'This Kubernetes API offers no project namespaces (projects need one cluster API).',
        400,
      );
    }
    return projects;
  }

  private async create(project: ProjectPlacement, retry: RetryOptions): Promise<NamespacedKubeApi> {
    const projects = this.projectApi();
    const m = buildProjectManifests(project);
    const api = projects.inNamespace(project.namespace);
    await retryUntil(
      `create Namespace ${project.namespace}`,
      () => projects.ensureNamespace(m.namespace),
      retry,
    );
    await retryUntil(
      `ensure NetworkPolicy in ${project.namespace}`,
      () => api.ensureNetworkPolicy(m.networkPolicy),
      retry,
    );
    const quota = m.resourceQuota;
    if (quota)
      await retryUntil(
        `ensure ResourceQuota in ${project.namespace}`,
        () => api.ensureResourceQuota(quota),
        retry,
      );
    const limitRange = m.limitRange;
    if (limitRange)
      await retryUntil(
        `ensure LimitRange in ${project.namespace}`,
        () => api.ensureLimitRange(limitRange),
        retry,
      );
    return api;
  }
}

/**
 * How a project evaluation ends when no pod could be created within `quotaWaitSeconds`. In a project
 * namespace that is the ResourceQuota refusing the pod (403 "exceeded quota", retried by the Job controller
 * and visible only as the Job's `FailedCreate` events, which Crucible does not read).
 */
export function quotaExceededOutcome(
  project: ProjectPlacement,
  waitedMs: number,
  at: Date,
): PlatformErrorOutcome {
  const { maxConcurrent, memoryMb, cpu } = project.limits;
  const limits = [
    maxConcurrent === undefined ? null : `${maxConcurrent} at once`,
    memoryMb === undefined ? null : `${memoryMb} MiB`,
    cpu === undefined ? null : `${cpu} CPU`,
  ].filter(Boolean);
  return {
    kind: 'error',
    reason: 'quota_exceeded',
    message:
      `No pod could be created in ${project.namespace} for ${Math.round(waitedMs / 1000)} s: ` +
      `the project's quota (${limits.join(', ') || 'none set'}) stayed exhausted.`,
    at,
  };
}
