import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildApi, StreamLimiter } from '../api/index.js';
import { DEFAULT_BOUNDS, DEFAULT_LIMITS, initialTimings, type Evaluation } from '../core/index.js';
import { EventBus } from '../events/index.js';
import { table } from '../format/table.js';
import { createMetrics } from '../metrics/index.js';
import { DirectoryObjectStore } from '../objects/index.js';
import type { Runtime } from '../runtime/runtime.js';
import { EvaluationService, type Logger } from '../service/index.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { EvaluationStore } from '../store/store.js';
import { summarize, type Summary } from './stats.js';

export interface RetentionBenchOptions {
  /** Old terminal evaluations to prune (default 100,000). */
  readonly evaluations?: number;
  /** Concurrent API clients during the measurement (default 4). */
  readonly clients?: number;
  readonly log?: (line: string) => void;
}

export interface RetentionBenchResult {
  readonly evaluations: number;
  readonly pruneMs: number;
  /** GET /v1/evaluations/{id} latency with nothing else running: the floor. */
  readonly idleMs: Summary;
  /** The same requests while the prune runs. */
  readonly duringPruneMs: Summary;
  readonly storeBytesBefore: number;
  readonly storeBytesAfter: number;
}

const DAY = 86_400_000;
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A runtime that never runs anything: the bench only reads and prunes. */
const idleRuntime: Runtime = {
  name: 'bench',
  start: async () => undefined,
  cancel: async () => undefined,
  adopt: async () => 'lost',
  close: async () => undefined,
};

function oldEvaluation(serial: number, finishedAt: string): Evaluation {
  return {
    id: `ev_bench_${serial}_${randomUUID().slice(0, 8)}`,
    status: 'succeeded',
    language: 'python',
    code: `print(${serial})`,
    stdin: '',
    priority: 'normal',
    labels: { suite: 'retention' },
    limits: DEFAULT_LIMITS,
    runtime: 'bench',
    createdAt: finishedAt,
    timings: {
      ...initialTimings(finishedAt),
      dispatchedAt: finishedAt,
      startedAt: finishedAt,
      finishedAt,
      storedAt: finishedAt,
    },
    result: {
      exitCode: 0,
      signal: null,
      reason: null,
      message: null,
      durationMs: 10,
      cpuTimeMs: 5,
      peakMemoryBytes: 1 << 20,
      memoryEnforcement: 'cgroup',
      stdoutTruncated: false,
      stderrTruncated: false,
      outputComplete: true,
    },
  };
}

async function fill(store: EvaluationStore, count: number, log: (line: string) => void): Promise<void> {
  const finishedAt = new Date(Date.now() - 60 * DAY).toISOString();
  for (let i = 0; i < count; i++) {
    const evaluation = oldEvaluation(i, finishedAt);
    await store.create({
      ...evaluation,
      status: 'queued',
      result: null,
      timings: initialTimings(finishedAt),
    });
    await store.saveTransition({ evaluation, from: 'queued', to: 'succeeded', at: finishedAt, reason: null });
    await store.appendLogs([
      { evaluationId: evaluation.id, seq: 1, stream: 'stdout', data: Buffer.from(`${i}\n`), at: finishedAt },
    ]);
    if ((i + 1) % 20_000 === 0) log(`retention: stored ${i + 1} old evaluations`);
  }
}

/** Latencies of GET /v1/evaluations/{id} from `clients` loops until `until()` says stop. */
async function measure(
  url: string,
  ids: readonly string[],
  clients: number,
  until: () => boolean,
): Promise<number[]> {
  const samples: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!until()) {
        const id = ids[next++ % ids.length]!;
        const started = performance.now();
        const answer = await fetch(`${url}/v1/evaluations/${id}`);
        await answer.arrayBuffer();
        if (answer.status !== 200) throw new Error(`GET answered ${answer.status}`);
        samples.push(performance.now() - started);
      }
    }),
  );
  return samples;
}

/**
 * Retention's cost to the API: `evaluations` old terminal evaluations (each with a log chunk and labels) in
 * a SQLite file, the real service and API on loopback, `clients` loops reading evaluations that are kept.
 * The floor is the same loops with nothing else running (2,000 requests); then the prune runs in the same
 * process — as `--retention` would — and the loops run until it is done.
 */
export async function benchRetention(options: RetentionBenchOptions = {}): Promise<RetentionBenchResult> {
  const count = options.evaluations ?? 100_000;
  const clients = options.clients ?? 4;
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'crucible-retention-bench-'));
  const store = createSqliteStore({ path: join(dir, 'crucible.db') });
  await store.migrate();
  const bus = new EventBus();
  const service = new EvaluationService({
    store,
    runtime: idleRuntime,
    bus,
    replicaId: 'bench',
    concurrency: 1,
    agingMs: 30_000,
    defaultLimits: DEFAULT_LIMITS,
    objects: new DirectoryObjectStore(join(dir, 'objects')),
    log: quiet,
  });
  const streams = new StreamLimiter(100, 100);
  const app = await buildApi({
    service,
    bounds: DEFAULT_BOUNDS,
    metrics: createMetrics(
      bus,
      () => service.queueStats(),
      () => streams.open,
    ),
    isReady: () => true,
    rateLimitPerMinute: 0,
    streams,
    log: quiet,
    version: 'bench',
    authRequired: false,
  });
  try {
    await service.start({ work: false });
    log(`retention: storing ${count} old evaluations`);
    await fill(store, count, log);
    const recent = Array.from({ length: 100 }, (_, i) => oldEvaluation(count + i, new Date().toISOString()));
    for (const evaluation of recent) {
      await store.create({ ...evaluation, status: 'queued', result: null });
      await store.saveTransition({
        evaluation,
        from: 'queued',
        to: 'succeeded',
        at: evaluation.createdAt,
        reason: null,
      });
    }
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const ids = recent.map((e) => e.id);
    let done = 0;
    const idle = await measure(url, ids, clients, () => done++ >= 2000);
    log(`retention: pruning ${count} evaluations while ${clients} clients read`);
    let pruning = true;
    const started = performance.now();
    const prune = service.retention!.prune({ olderThanMs: 30 * DAY }).finally(() => {
      pruning = false;
    });
    const during = await measure(url, ids, clients, () => !pruning);
    const report = await prune;
    const pruneMs = performance.now() - started;
    if (report.evaluations !== count) throw new Error(`pruned ${report.evaluations}, expected ${count}`);
    return {
      evaluations: report.evaluations,
      pruneMs,
      idleMs: summarize(idle),
      duringPruneMs: summarize(during),
      storeBytesBefore: report.storeBytesBefore,
      storeBytesAfter: report.storeBytesAfter,
    };
  } finally {
    await app.close();
    await service.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatRetentionBench(result: RetentionBenchResult): string {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const mib = (v: number) => `${(v / (1 << 20)).toFixed(1)} MiB`;
  return (
    `retention: prune of ${result.evaluations.toLocaleString('en-US')} evaluations on SQLite in ` +
    `${(result.pruneMs / 1000).toFixed(1)} s (${Math.round(result.evaluations / (result.pruneMs / 1000))}/s), ` +
    `store ${mib(result.storeBytesBefore)} → ${mib(result.storeBytesAfter)}; GET /v1/evaluations/{id} latency\n` +
    table([
      ['', 'n', 'p50', 'p95', 'p99', 'max'],
      ...(
        [
          ['idle (the floor)', result.idleMs],
          ['during the prune', result.duringPruneMs],
        ] as const
      ).map(([label, s]) => [label, String(s.n), ms(s.median), ms(s.p95), ms(s.p99), ms(s.max)]),
    ])
  );
}
