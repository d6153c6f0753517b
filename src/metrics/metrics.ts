import { storageMetrics, type StorageTelemetry } from './storage.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isTerminal, type Evaluation } from '../core/index.js';
import type { EventBus } from '../events/index.js';
import type { WatchTelemetry } from '../runtime/runtime.js';
import type { QueueStats } from '../service/index.js';

const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Fine around the 50 ms goal for events across replicas. */
export const REPLICA_LAG_BUCKETS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5,
];

/** Watch-event lag: the API server's stamps have one-second resolution, so finer buckets would say nothing. */
const WATCH_LAG_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60];

/**
 * The stages the seeds asked to time, each a difference of two stored timestamps. The last three split
 * `start` on Kubernetes (Job created, pod scheduled, container started); a backend without those stamps
 * (local) observes none of them.
 */
export const STAGES = [
  ['queue_wait', 'submittedAt', 'dispatchedAt'],
  ['start', 'dispatchedAt', 'startedAt'],
  ['run', 'startedAt', 'finishedAt'],
  ['store', 'finishedAt', 'storedAt'],
  ['end_to_end', 'submittedAt', 'storedAt'],
  ['job_create', 'dispatchedAt', 'jobCreatedAt'],
  ['pod_schedule', 'jobCreatedAt', 'podScheduledAt'],
  ['container_start', 'podScheduledAt', 'containerStartedAt'],
] as const;

export interface MetricsSources {
  /** The runtime's watch counters and event lag (Kubernetes); absent for backends that watch nothing. */
  readonly watch?: WatchTelemetry;
  /** Store size, free disk and pruned totals (docs/retention.md); absent: not reported. */
  readonly storage?: StorageTelemetry;
}

/**
 * Prometheus metrics fed by the event bus: counters of transitions, histograms of every lifecycle stage, and
 * gauges of the queue read when scraped.
 */
export function createMetrics(
  bus: EventBus,
  queueStats: () => Promise<QueueStats>,
  openStreams: () => number,
  sources: MetricsSources = {},
): Registry {
  const registry = new Registry();
  // Three gauges read the queue on each scrape, collected at once: one store query serves them all.
  let reading: Promise<QueueStats> | null = null;
  const queueOnce = (): Promise<QueueStats> =>
    (reading ??= queueStats().finally(() => {
      reading = null;
    }));
  collectDefaultMetrics({ register: registry, prefix: 'crucible_process_' });
  const transitions = new Counter({
    name: 'crucible_transitions_total',
    help: 'Status transitions recorded, by target status',
    labelNames: ['to'] as const,
    registers: [registry],
  });
  const finished = new Counter({
    name: 'crucible_evaluations_finished_total',
    help: 'Evaluations that reached a terminal status, by status, reason and language',
    labelNames: ['status', 'reason', 'language'] as const,
    registers: [registry],
  });
  const stages = new Histogram({
    name: 'crucible_stage_duration_seconds',
    help: 'Time spent in each lifecycle stage (queue_wait, start, run, store, end_to_end; on Kubernetes also job_create, pod_schedule, container_start), by backend and language',
    labelNames: ['stage', 'backend', 'language'] as const,
    buckets: STAGE_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'crucible_queue_depth',
    help: 'Queued evaluations by priority',
    labelNames: ['priority'] as const,
    registers: [registry],
    async collect() {
      const { queued } = await queueOnce();
      for (const [priority, count] of Object.entries(queued)) this.set({ priority }, count);
    },
  });
  new Gauge({
    name: 'crucible_running',
    help: 'Evaluations starting or running, across every replica',
    registers: [registry],
    async collect() {
      this.set((await queueOnce()).running);
    },
  });
  new Gauge({
    name: 'crucible_replica_slots_used',
    help: 'Slots held on this replica (a cancelled run holds its slot until its sandbox is gone)',
    registers: [registry],
    async collect() {
      this.set((await queueOnce()).replica.running);
    },
  });
  new Gauge({
    name: 'crucible_capacity',
    help: 'Evaluations that may run at once: the global limit, or this replica’s slots when there is none',
    registers: [registry],
    async collect() {
      this.set((await queueOnce()).capacity);
    },
  });
  new Gauge({
    name: 'crucible_awaiting_admission',
    help: 'Queued evaluations whose Job waits for Kueue’s admission (each holds a slot)',
    registers: [registry],
    async collect() {
      this.set((await queueOnce()).awaitingAdmission);
    },
  });
  new Gauge({
    name: 'crucible_replica_slots',
    help: 'Slots of this replica',
    registers: [registry],
    async collect() {
      this.set((await queueOnce()).replica.slots);
    },
  });
  new Gauge({
    name: 'crucible_open_streams',
    help: 'Open SSE and log-follow connections',
    registers: [registry],
    collect() {
      this.set(openStreams());
    },
  });

  const replicaLag = new Histogram({
    name: 'crucible_replica_event_lag_seconds',
    help: "From another replica's commit (the database's clock) to the transition's publication on this replica's event streams",
    buckets: REPLICA_LAG_BUCKETS,
    registers: [registry],
  });
  bus.onTransition(({ transition, evaluation, committedAt }) => {
    if (committedAt !== undefined) replicaLag.observe(Math.max(0, Date.now() - committedAt) / 1000);
    // Transitions other replicas wrote are theirs to count: a sum across replicas counts each once.
    if (!evaluation) return;
    transitions.inc({ to: transition.to });
    if (!isTerminal(transition.to)) return;
    finished.inc({
      status: transition.to,
      reason: evaluation.result?.reason ?? '',
      language: evaluation.language,
    });
    observeStages(evaluation);
  });

  function observeStages(evaluation: Evaluation): void {
    for (const [stage, from, to] of STAGES) {
      const start = evaluation.timings[from];
      const end = evaluation.timings[to];
      if (!start || !end) continue;
      const seconds = (Date.parse(end) - Date.parse(start)) / 1000;
      // A platform stamp (whole seconds) may read before Crucible's own (ms): that stage took under a second.
      const labels = { stage, backend: evaluation.runtime, language: evaluation.language };
      if (Number.isFinite(seconds)) stages.observe(labels, Math.max(0, seconds));
    }
  }

  if (sources.watch) watchMetrics(registry, sources.watch);
  if (sources.storage) storageMetrics(registry, sources.storage);
  return registry;
}

/** The Kubernetes monitor's reflector counters (read at each scrape) and the lag of each watch event. */
function watchMetrics(registry: Registry, watch: WatchTelemetry): void {
  const counter = (
    name: string,
    help: string,
    pick: (c: ReturnType<WatchTelemetry['counters']>[0]) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        // Cumulative counts kept by the reflectors: set, not added to.
        this.reset();
        for (const counters of watch.counters()) this.inc({ kind: counters.kind }, pick(counters));
      },
    });
  counter(
    'crucible_kubernetes_watch_reconnects_total',
    'Watch connections opened again after the first (ended, failed or silent streams)',
    (c) => c.reconnects,
  );
  counter(
    'crucible_kubernetes_relists_total',
    'Full relists because the watch history expired (410 Gone)',
    (c) => c.relists,
  );
  counter('crucible_kubernetes_list_requests_total', 'List requests (pages) of the monitor', (c) => c.lists);
  counter('crucible_kubernetes_watch_events_total', 'Watch events received', (c) => c.events);
  counter('crucible_kubernetes_watch_errors_total', 'Failed list or watch requests', (c) => c.errors);
  const lag = new Histogram({
    name: 'crucible_kubernetes_watch_event_lag_seconds',
    help: 'From the change a Job or pod records (its newest timestamp, one-second resolution) to the watch event’s arrival',
    labelNames: ['kind'] as const,
    buckets: WATCH_LAG_BUCKETS,
    registers: [registry],
  });
  watch.onEvent((kind, seconds) => lag.observe({ kind }, seconds));
}
