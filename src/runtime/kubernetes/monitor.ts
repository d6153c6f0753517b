import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { KubeApi } from './kube-client.js';
import { toKubeError } from './kube-client.js';
import { MANAGED_LABEL, MANAGED_VALUE } from './names.js';
import type { KubernetesOptions } from './options.js';
import { Reflector, type KubeObject, type ReflectorStats } from './reflector.js';

/** What a monitor reports: the latest state of each Job and Pod Crucible manages, keyed by uid. */
export interface MonitorListener {
  job(job: V1Job, deleted: boolean): void;
  pod(pod: V1Pod, deleted: boolean): void;
  /** A change that arrived on a watch (not a list), after `job`/`pod`: for the event-lag metric. */
  watched?(kind: 'jobs' | 'pods', object: V1Job | V1Pod): void;
}

/**
 * Sees the cluster's Jobs and Pods. Two implementations behind this interface: `watch` (the real one) and
 * `poll` (kept only to compare latency against). Both are idempotent to start and stop.
 */
export interface ClusterMonitor {
  readonly kind: 'watch' | 'poll';
  /** Starts, and resolves once the first full view has been delivered. */
  start(): Promise<void>;
  stop(): Promise<void>;
  jobs(): V1Job[];
  pods(): V1Pod[];
  stats(): Record<string, ReflectorStats | number>;
}

export const MANAGED_SELECTOR = `${MANAGED_LABEL}=${MANAGED_VALUE}`;

/**
 * `api` is one namespace's, or the cluster-wide one of project namespaces (with the project `selector`);
 * either way one list/watch per kind.
 */
export function createWatchMonitor(
  api: Pick<KubeApi, 'listJobs' | 'listPods' | 'watch'>,
  options: KubernetesOptions,
  listener: MonitorListener,
  warn: (message: string) => void,
  selector: string = MANAGED_SELECTOR,
): ClusterMonitor {
  const jobs = new Reflector<V1Job>(
    'jobs',
    { list: (q) => api.listJobs(q), watch: (q, s) => api.watch('jobs', q, s) },
    selector,
    {
      upsert: (j) => listener.job(j, false),
      remove: (j) => listener.job(j, true),
      watched: (j) => listener.watched?.('jobs', j),
    },
    options,
    warn,
  );
  const pods = new Reflector<V1Pod>(
    'pods',
    { list: (q) => api.listPods(q), watch: (q, s) => api.watch('pods', q, s) },
    selector,
    {
      upsert: (p) => listener.pod(p, false),
      remove: (p) => listener.pod(p, true),
      watched: (p) => listener.watched?.('pods', p),
    },
    options,
    warn,
  );
  return {
    kind: 'watch',
    async start() {
      await Promise.all([jobs.start(), pods.start()]);
    },
    async stop() {
      await Promise.all([jobs.stop(), pods.stop()]);
    },
    jobs: () => jobs.objects(),
    pods: () => pods.objects(),
    stats: () => ({ jobs: jobs.stats, pods: pods.stats }),
  };
}

/** Lists everything every `pollIntervalMs`: the seeds' approach, kept only as a baseline for the bench. */
export function createPollMonitor(
  api: KubeApi,
  options: KubernetesOptions,
  listener: MonitorListener,
  warn: (message: string) => void,
): ClusterMonitor {
  const jobCache = new Map<string, V1Job>();
  const podCache = new Map<string, V1Pod>();
  let timer: NodeJS.Timeout | null = null;
  let first: Promise<void> | null = null;
  let polls = 0;

  function diff<T extends KubeObject>(
    cache: Map<string, T>,
    items: T[],
    emit: (o: T, deleted: boolean) => void,
  ): void {
    const seen = new Set<string>();
    for (const item of items) {
      const uid = item.metadata?.uid;
      if (!uid) continue;
      seen.add(uid);
      const old = cache.get(uid);
      cache.set(uid, item);
      if (old?.metadata?.resourceVersion !== item.metadata?.resourceVersion) emit(item, false);
    }
    for (const [uid, old] of cache) {
      if (!seen.has(uid)) {
        cache.delete(uid);
        emit(old, true);
      }
    }
  }
  async function poll(): Promise<void> {
    polls += 1;
    try {
      const [jobs, pods] = await Promise.all([
        api.listJobs({ labelSelector: MANAGED_SELECTOR }),
        api.listPods({ labelSelector: MANAGED_SELECTOR }),
      ]);
      diff(jobCache, jobs.items, (j, d) => listener.job(j, d));
      diff(podCache, pods.items, (p, d) => listener.pod(p, d));
    } catch (error) {
      warn(`poll failed: ${toKubeError(error).message}`);
    }
  }
  async function tick(): Promise<void> {
    await poll();
    if (timer) timer = setTimeout(() => void tick(), options.pollIntervalMs);
  }
  return {
    kind: 'poll',
    start() {
      if (!first) {
        timer = setTimeout(() => undefined, 0);
        first = tick();
      }
      return first;
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await first;
      first = null;
    },
    jobs: () => [...jobCache.values()],
    pods: () => [...podCache.values()],
    stats: () => ({ polls }),
  };
}
