import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { WatchCounters, WatchTelemetry } from '../runtime.js';
import type { KubeApi } from './kube-client.js';
import type { ReflectorStats } from './reflector.js';
import { toDate } from './status.js';

/**
 * The newest time a Job or pod carries: its creation, a condition's transition, the pod's start, a
 * container's start or end, the Job's completion. A watch event announcing that change arrives some time
 * after it; that difference is the event lag. `deletionTimestamp` is left out: it names the end of the grace
 * period, in the future. The API server's timestamps have one-second resolution, so the lag is as coarse.
 */
export function newestChange(object: V1Job | V1Pod): number | null {
  const times: (Date | string | undefined)[] = [object.metadata?.creationTimestamp];
  const status = object.status as (V1Pod['status'] & V1Job['status'] & Record<string, unknown>) | undefined;
  for (const condition of status?.conditions ?? []) times.push(condition.lastTransitionTime);
  times.push(status?.startTime, status?.completionTime);
  for (const container of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]) {
    times.push(container.state?.running?.startedAt, container.state?.terminated?.finishedAt);
  }
  let newest: number | null = null;
  for (const time of times) {
    const ms = toDate(time)?.getTime();
    if (ms !== undefined && (newest === null || ms > newest)) newest = ms;
  }
  return newest;
}

/** Watch counters and event-lag listeners of one Kubernetes runtime's monitors (read by /metrics). */
export class KubeWatchTelemetry implements WatchTelemetry {
  readonly #listeners = new Set<(kind: string, lagSeconds: number) => void>();

  constructor(
    private readonly stats: () => Record<string, Record<string, ReflectorStats | number>>,
    private readonly clock: () => Date,
  ) {}

  counters(): WatchCounters[] {
    const out: WatchCounters[] = [];
    for (const [monitor, kinds] of Object.entries(this.stats())) {
      for (const [kind, stats] of Object.entries(kinds)) {
        if (typeof stats === 'number') continue;
        const { lists, watches, events, errors, expired } = stats;
        out.push({
          kind: monitor === 'namespace' ? kind : `${monitor}:${kind}`,
          lists,
          // The first watch is a connection, not a reconnect.
          reconnects: Math.max(0, watches - 1),
          relists: expired,
          events,
          errors,
        });
      }
    }
    return out;
  }

  onEvent(listener: (kind: string, lagSeconds: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A change arrived on a watch. */
  watched(kind: string, object: V1Job | V1Pod): void {
    if (this.#listeners.size === 0) return;
    const newest = newestChange(object);
    if (newest === null) return;
    const lag = Math.max(0, this.clock().getTime() - newest) / 1000;
    for (const listener of this.#listeners) listener(kind, lag);
  }
}

/**
 * The API with each call that answers a promise wrapped by `traceCall` under the name `kubernetes.<method>`
 * (`createJob`, `createConfigMap`, …); `inNamespace` answers a traced API. The cluster-wide project API
 * (`projects`, watches only) passes through.
 */
export function tracedKubeApi(
  api: KubeApi,
  traceCall: <T>(name: string, work: () => Promise<T>) => Promise<T>,
): KubeApi {
  return new Proxy(api, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'close') return value;
      const method = value as (...args: unknown[]) => unknown;
      // A project namespace's API: its calls are traced the same way.
      if (property === 'inNamespace')
        return (...args: unknown[]) => tracedKubeApi(method.apply(target, args) as KubeApi, traceCall);
      return (...args: unknown[]) =>
        traceCall(`kubernetes.${property}`, () => Promise.resolve(method.apply(target, args)));
    },
  });
}

/**
 * One telemetry over several clusters' (the multi-cluster runtime): each counter's kind is prefixed with
 * its cluster's name (`east/pods`), and a listener hears every cluster's events, their kinds prefixed too.
 */
export function mergeWatchTelemetry(
  parts: readonly (readonly [cluster: string, telemetry: WatchTelemetry | undefined])[],
): WatchTelemetry | undefined {
  const present = parts.filter((p): p is readonly [string, WatchTelemetry] => p[1] !== undefined);
  if (present.length === 0) return undefined;
  return {
    counters: () =>
      present.flatMap(([cluster, t]) => t.counters().map((c) => ({ ...c, kind: `${cluster}/${c.kind}` }))),
    onEvent(listener) {
      const stops = present.map(([cluster, t]) =>
        t.onEvent((kind, lag) => listener(`${cluster}/${kind}`, lag)),
      );
      return () => stops.forEach((stop) => stop());
    },
  };
}
