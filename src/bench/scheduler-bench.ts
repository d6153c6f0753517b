import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  applyEvent,
  DEFAULT_LIMITS,
  initialTimings,
  PRIORITIES,
  type Evaluation,
  type Priority,
} from '../core/index.js';
import { table } from '../format/table.js';
import type { EvaluationStore } from '../store/store.js';

/** One store to measure the claim of: opened fresh (empty), closed (and dropped) by the bench. */
export interface SchedulerBenchStore {
  readonly label: string;
  readonly open: () => Promise<{ store: EvaluationStore; dispose: () => Promise<void> }>;
  /** After each fill (PostgreSQL: ANALYZE, as autovacuum would after a bulk insert, so plans fit the size). */
  readonly afterFill?: () => Promise<void>;
}

export interface SchedulerBenchOptions {
  readonly stores: readonly SchedulerBenchStore[];
  /** Queue sizes to measure at; default 1,000 / 10,000 / 100,000. */
  readonly levels?: readonly number[];
  /** Users the queue is spread across; default 100. */
  readonly users?: number;
  /** Claims timed per level; default 300. */
  readonly claims?: number;
  readonly log?: (line: string) => void;
}

export interface SchedulerLevel {
  readonly queued: number;
  /**
   * µs per claim decision (one `claimQueued` of max 1, its dispatch write included), the median of the timed
   * claims (robust to a neighbour's burst of CPU on a shared machine), by store label.
   */
  readonly microsPerClaim: Readonly<Record<string, number>>;
}

const BATCH = 1_000;
/** A tenth of the users run at most one at a time: the claim passes over theirs as it would in service. */
const LIMITED_SHARE = 10;

/**
 * The scheduler's decision cost as the queue grows: `claimQueued` (fair order per priority, aging across
 * priorities, per-user `maxRunning`, the global limit) timed at each queue size, spread across `users` users
 * and the three priorities. The queue is filled through batches (one transaction per 1,000) and topped up
 * between levels; what a level's claims took is replaced, so each level is measured at its size. Flat is the
 * goal: a decision reads a few index entries per priority, whatever the queue holds.
 */
export async function benchScheduler(options: SchedulerBenchOptions): Promise<SchedulerLevel[]> {
  const levels = options.levels ?? [1_000, 10_000, 100_000];
  const users = options.users ?? 100;
  const claims = options.claims ?? 300;
  const maxRunning = Object.fromEntries(
    Array.from({ length: Math.ceil(users / LIMITED_SHARE) }, (_, i) => [`user${i * LIMITED_SHARE}`, 1]),
  );
  const results = levels.map((queued) => ({ queued, microsPerClaim: {} as Record<string, number> }));
  for (const target of options.stores) {
    const { store, dispose } = await target.open();
    try {
      await store.migrate();
      let queued = 0;
      let serial = 0;
      for (const result of results) {
        options.log?.(`scheduler: ${target.label}, filling the queue to ${result.queued}`);
        while (queued < result.queued) {
          const count = Math.min(BATCH, result.queued - queued);
          await insertQueued(
            store,
            Array.from({ length: count }, () => serial++),
            users,
          );
          queued += count;
        }
        await target.afterFill?.();
        // Warm the statement caches and the pages the claim reads, then time.
        queued -= (await claimEach(store, 20, maxRunning)).taken;
        const { micros, taken } = await claimEach(store, claims, maxRunning);
        result.microsPerClaim[target.label] = median(micros);
        queued -= taken;
      }
    } finally {
      await dispose();
    }
  }
  return results;
}

/**
 * `times` claims of one evaluation each, as a replica with one free slot makes them; the µs each took, and
 * how many they took. Each claimed one then ends (untimed), as runs do, so the active count stays that of a
 * busy replica: the limited users' stay running (they hold their one place, and the claim passes theirs over).
 */
async function claimEach(
  store: EvaluationStore,
  times: number,
  maxRunning: Readonly<Record<string, number>>,
): Promise<{ micros: number[]; taken: number }> {
  const micros: number[] = [];
  let taken = 0;
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const claimed = await store.claimQueued({
      owner: 'bench',
      max: 1,
      globalConcurrency: Number.MAX_SAFE_INTEGER,
      agingMs: 30_000,
      maxRunning,
      dispatch: (queued) => {
        const at = new Date();
        return applyEvent(queued, { type: 'dispatched', at, runtime: 'bench' }, at);
      },
    });
    micros.push((performance.now() - started) * 1000);
    taken += claimed.length;
    for (const { evaluation } of claimed) {
      if (evaluation.user && evaluation.user in maxRunning) continue;
      const at = new Date().toISOString();
      await store.saveTransition({
        evaluation: { ...evaluation, status: 'succeeded' },
        from: evaluation.status,
        to: 'succeeded',
        at,
        reason: null,
      });
    }
  }
  return { micros, taken };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const priorityOf = (round: number): Priority =>
  round % 10 === 0 ? 'high' : round % 10 === 1 ? 'low' : 'normal';

async function insertQueued(
  store: EvaluationStore,
  serials: readonly number[],
  users: number,
): Promise<void> {
  const now = new Date().toISOString();
  const evaluation = (serial: number): Evaluation => ({
    id: `ev_${randomUUID()}`,
    status: 'queued',
    language: 'python',
    code: `print(${serial})`,
    stdin: '',
    // Mostly normal, some high and low, so the merge across priorities does work; every user has some of each.
    priority: priorityOf(Math.floor(serial / users)),
    labels: {},
    limits: DEFAULT_LIMITS,
    runtime: 'bench',
    createdAt: now,
    timings: initialTimings(now),
    result: null,
    user: `user${serial % users}`,
  });
  const items = serials.map((serial) => ({ evaluation: evaluation(serial) }));
  if (!store.batches) {
    for (const { evaluation: e } of items) await store.create(e);
    return;
  }
  await store.batches.createBatch(
    {
      id: `batch_${randomUUID()}`,
      total: items.length,
      labels: {},
      createdAt: now,
      webhookUrl: null,
      user: null,
    },
    items,
  );
}

/** The levels as a table: µs per decision per store, and each next to its 1,000 figure. */
export function formatSchedulerBench(levels: readonly SchedulerLevel[], users = 100): string {
  const labels = [...new Set(levels.flatMap((l) => Object.keys(l.microsPerClaim)))];
  const base = levels[0];
  const rows = [['queued', ...labels.flatMap((label) => [`${label} µs/claim`, 'vs first'])]];
  for (const level of levels) {
    rows.push([
      level.queued.toLocaleString('en-US'),
      ...labels.flatMap((label) => {
        const micros = level.microsPerClaim[label];
        const first = base?.microsPerClaim[label];
        if (micros === undefined) return ['-', '-'];
        return [micros.toFixed(0), first ? `${(micros / first).toFixed(2)}×` : '-'];
      }),
    ]);
  }
  return [
    `scheduler decision cost: median of one claimQueued (max 1, its dispatch write included; finishing runs untimed), ` +
      (users === 1
        ? `the whole queue one user's, at maxRunning 1 (no claim may take any), ${PRIORITIES.length} priorities`
        : `${users} users, ${PRIORITIES.length} priorities, a tenth of the users at maxRunning 1`),
    table(rows),
    'goal: flat (a decision reads a few index entries per priority, whatever the queue holds)',
  ].join('\n');
}
