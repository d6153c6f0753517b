/**
 * `npm run bench`: every benchmark, printed as tables (`--json` for machine-readable figures).
 * 1. Local runtime, one server process on loopback:
 *    a. sequential submit→terminal of print(1) over HTTP next to plain `python3 -c 'print(1)'` and bare bwrap;
 *    b. throughput and p95 at 8 and 32 concurrent clients next to the bare-bwrap floor (same harness);
 *    c. the CLI's `run hello.py` wall time minus the evaluation's own time, next to `node -e 0`;
 *    d. one batch of 1,000 submissions next to 1,000 single submissions (ms).
 * 2. Kubernetes runtime on the fake API server: watch event → observed transition lag (watch vs poll
 *    monitor), and print(1) end to end.
 * 3. Replicas: 1 server on SQLite (the floor) vs 1 and 3 replicas on one PostgreSQL database, throughput
 *    at 8 clients and the lag of SSE across replicas.
 * 4. Scheduler: the store's claim decision (µs) at 1,000 / 10,000 / 100,000 queued across 100 users (and all
 *    of one user at maxRunning), on
 *    SQLite and on PostgreSQL when it answers (flat is the goal).
 * 5. Tracing: print(1) at 8 clients on a server exporting traces over OTLP/HTTP vs one without, alternating.
 * 6. Dashboard: first rows on screen and live-update lag in Chromium with 10,000 evaluations stored, next to
 *    plain-HTTP and plain-SSE floors.
 * 7. Languages: hello world per installed language, submit→terminal (compile and run in the sandbox), next
 *    to the same compiler and binary run bare on the host (goal ≤ 1.2× for compiled languages).
 * Retention: p99 of GET /v1/evaluations/{id} while 100,000 old evaluations are pruned, next to the same
 * requests with nothing else running (the floor).
 */
import { benchBatch, formatBatchBench } from '../src/bench/batch-bench.js';
import { benchLanguages, formatLanguagesBench } from '../src/bench/languages-bench.js';
import { benchCli } from '../src/bench/cli-bench.js';
import {
  formatCliBench,
  formatLocalBench,
  formatReplicaBench,
  formatThroughputBench,
} from '../src/bench/format.js';
import { benchLocal } from '../src/bench/local-bench.js';
import { benchReplicas, type ReplicaLevel } from '../src/bench/replica-bench.js';
import {
  benchScheduler,
  formatSchedulerBench,
  type SchedulerBenchStore,
} from '../src/bench/scheduler-bench.js';
import { benchRetention, formatRetentionBench } from '../src/bench/retention-bench.js';
import { startBenchServer } from '../src/bench/server-process.js';
import { benchThroughput } from '../src/bench/throughput-bench.js';
import { benchTracing, formatTracingBench } from '../src/bench/tracing-bench.js';
import { benchDashboard, formatDashboardBench } from '../src/bench/dashboard-bench.js';
import { table } from '../src/format/table.js';
import { benchKubernetes } from './kubernetes.js';
import { benchKubernetesSandboxes, formatKubernetesSandboxBench } from './kubernetes-sandboxes.js';
import { benchSandboxes, formatSandboxBench } from '../src/bench/sandbox-bench.js';
import { createBenchDatabase } from './postgres.js';

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPostgresStore } from '../src/store/postgres/index.js';
import { createSqliteStore } from '../src/store/sqlite/index.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);

log('benchmark 1/3: local runtime (bwrap) over HTTP');
const server = await startBenchServer({ sandbox: 'bwrap' });
const { local, throughput, cli, batch } = await (async () => {
  try {
    const local = await benchLocal({ iterations: 50, sandbox: 'bwrap', log, baseUrl: server.url });
    const throughput = await benchThroughput({ baseUrl: server.url, serverPid: server.pid, log });
    const cli = await benchCli({ baseUrl: server.url, log });
    const batch = await benchBatch({ baseUrl: server.url, log });
    return { local, throughput, cli, batch };
  } finally {
    await server.stop();
  }
})();
log('benchmark 2/3: kubernetes runtime on the fake API server');
const kubernetes = await benchKubernetes();
log('benchmark 2b: kubernetes sandboxes on the fake API server (create, exec, hibernate, resume)');
const kubernetesSandboxes = await benchKubernetesSandboxes();
log('benchmark 2c: local interactive sandboxes over HTTP (create, exec, files, hibernate, resume)');
const localSandboxes = await benchSandboxes({ log });
log('benchmark 3/3: replicas on PostgreSQL vs one server on SQLite');
const replicas = await (async (): Promise<ReplicaLevel[]> => {
  const database = await createBenchDatabase(log);
  if (!database) return [];
  try {
    return await benchReplicas({
      setups: [
        { label: '1 replica, SQLite', replicas: 1 },
        { label: '1 replica, PostgreSQL', replicas: 1, store: database.url },
        { label: '3 replicas, PostgreSQL', replicas: 3, store: database.url },
      ],
      log,
    });
  } finally {
    await database.drop();
  }
})();

log('benchmark 4: scheduler decision cost by queue size');
/** The scheduler bench on fresh stores (SQLite, and PostgreSQL when it answers), the queue spread over `users`. */
async function schedulerOn(users: number) {
  const dir = mkdtempSync(join(tmpdir(), 'crucible-scheduler-bench-'));
  const stores: SchedulerBenchStore[] = [
    {
      label: 'SQLite',
      open: async () => {
        const store = createSqliteStore({ path: join(dir, 'queue.db') });
        return { store, dispose: () => store.close() };
      },
    },
  ];
  const database = await createBenchDatabase(log);
  if (database) {
    stores.push({
      label: 'PostgreSQL',
      open: async () => {
        const store = createPostgresStore({ url: database.url });
        return { store, dispose: () => store.close() };
      },
      afterFill: async () => {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        await client.query('ANALYZE');
        await client.end();
      },
    });
  }
  try {
    return await benchScheduler({ stores, log, users });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await database?.drop();
  }
}
const scheduler = await schedulerOn(100);
// The worst case for maxRunning: the whole queue is one user's, at their limit, so no claim may take any.
const schedulerOneUser = await schedulerOn(1);

log('benchmark 5: tracing on vs off at 8 clients');
const tracing = await benchTracing({ log });
log('benchmark 6: the dashboard with 10,000 evaluations in the store');
const dashboard = await benchDashboard({ log });

log('benchmark: API latency during a prune of 100,000 evaluations (retention)');
const retention = await benchRetention({ log });

log('benchmark 7: hello world per language (compile + run in the sandbox) vs the bare compiler and binary');
const languagesServer = await startBenchServer({ sandbox: 'bwrap' });
const languages = await benchLanguages({ baseUrl: languagesServer.url, log }).finally(() =>
  languagesServer.stop(),
);

if (json) {
  process.stdout.write(
    `${JSON.stringify({ retention, local, throughput, cli, batch, kubernetes, replicas, scheduler, schedulerOneUser, tracing, dashboard, languages }, null, 2)}\n`,
  );
} else {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  process.stdout.write(`${formatLocalBench(local)}\n\n`);
  process.stdout.write(`${formatThroughputBench(throughput)}\n\n`);
  process.stdout.write(`${formatCliBench(cli)}\n\n`);
  process.stdout.write(`${formatBatchBench(batch)}\n\n`);
  process.stdout.write(`${formatLanguagesBench(languages)}\n\n`);
  process.stdout.write(
    `kubernetes runtime (fake API server, pods run in the local sandbox), ${kubernetes.samples} samples\n` +
      `${table([
        ['measure', 'p50', 'p95', 'p99'],
        [
          'watch event → transition (watch monitor)',
          ms(kubernetes.watchLagMs.p50),
          ms(kubernetes.watchLagMs.p95),
          ms(kubernetes.watchLagMs.p99),
        ],
        [
          'watch event → transition (poll monitor, 1 s)',
          ms(kubernetes.pollLagMs.p50),
          ms(kubernetes.pollLagMs.p95),
          ms(kubernetes.pollLagMs.p99),
        ],
        ['print(1) end to end', ms(kubernetes.printOneMs.median), ms(kubernetes.printOneMs.p95), '-'],
      ])}\n` +
      `goal: watch lag p99 ≤ 100 ms (the seeds' polling system took 10–15 s)\n`,
  );
  process.stdout.write(`\n${formatKubernetesSandboxBench(kubernetesSandboxes)}\n`);
  process.stdout.write(`\n${formatSandboxBench(localSandboxes)}\n`);
  if (replicas.length > 0) process.stdout.write(`\n${formatReplicaBench(replicas)}\n`);
  process.stdout.write(`\n${formatSchedulerBench(scheduler)}\n`);
  process.stdout.write(`\n${formatRetentionBench(retention)}\n`);
  process.stdout.write(`\n${formatSchedulerBench(schedulerOneUser, 1)}\n`);
  process.stdout.write(`\n${formatTracingBench(tracing)}\n`);
  process.stdout.write(`\n${formatDashboardBench(dashboard)}\n`);
}
