import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isTerminal, type Evaluation } from '../core/index.js';
import type { EventBus } from '../events/index.js';
import type { QueueStats } from '../service/index.js';

const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Fine around the 50 ms goal for events across replicas. */
export const REPLICA_LAG_BUCKETS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5,
];

/** The stages the seeds asked to time, each a difference of two stored timestamps. */
const STAGES = [
  ['queue_wait', 'submittedAt', 'dispatchedAt'],
  ['start', 'dispatchedAt', 'startedAt'],
  ['run', 'startedAt', 'finishedAt'],
  ['store', 'finishedAt', 'storedAt'],
  ['end_to_end', 'submittedAt', 'storedAt'],
] as const;

/**
 * Prometheus metrics fed by the event bus: counters of transitions, histograms of every lifecycle stage, and
 * gauges of the queue read when scraped.
 */
export function createMetrics(
  bus: EventBus,
  queueStats: () => Promise<QueueStats>,
  openStreams: () => number,
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
    help: 'Time spent in each lifecycle stage (queue_wait, start, run, store, end_to_end)',
    labelNames: ['stage', 'runtime'] as const,
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
      if (seconds >= 0) stages.observe({ stage, runtime: evaluation.runtime }, seconds);
    }
  }

  return registry;
}
