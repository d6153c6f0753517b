import { table } from '../format/table.js';
import { CLI_GOAL_RATIO, type CliBenchResult } from './cli-bench.js';
import type { LocalBenchResult } from './local-bench.js';
import { SSE_LAG_GOAL_MS, type ReplicaLag, type ReplicaLevel } from './replica-bench.js';
import type { Summary } from './stats.js';
import { THROUGHPUT_GOAL, type ThroughputLevel } from './throughput-bench.js';

/** The sequential local benchmark as a table for people (`crucible bench`, `npm run bench`). */
export function formatLocalBench(result: LocalBenchResult): string {
  const row = (name: string, s: Summary) => [name, ms(s.median), ms(s.p95), ms(s.p99), String(s.n)];
  const ratios = [`${result.ratioToPlainPython.toFixed(2)}× plain python`];
  if (result.ratioToBareBwrap !== null) ratios.push(`${result.ratioToBareBwrap.toFixed(2)}× bare bwrap`);
  return [
    `local runtime (${result.sandbox}), print(1) in python, one request at a time`,
    table([
      ['measure', 'median', 'p95', 'p99', 'n'],
      row('plain python3 -c print(1)', result.plainPython),
      ...(result.bareBwrap ? [row('bare bwrap … python3 -c print(1)', result.bareBwrap)] : []),
      row('HTTP submit → terminal', result.submitToTerminal),
      ...stageRows(result.stages, row),
    ]),
    `median submit→terminal: ${ratios.join(', ')}`,
  ].join('\n');
}

/** Throughput at each concurrency next to the bare-bwrap floor, with the goal and whether it is met. */
export function formatThroughputBench(levels: readonly ThroughputLevel[]): string {
  const rows = [['clients', 'system', 'req/s', 'median', 'p95', 'p99', 'n', 'CPU/req', 'vs floor']];
  for (const level of levels) {
    const c = level.crucible;
    const f = level.floor;
    const cpu = (r: typeof f) => (r.cpuMsPerRequest === null ? '-' : ms(r.cpuMsPerRequest));
    rows.push([
      String(level.concurrency),
      'bare bwrap floor',
      rate(f.throughput),
      ...latency(f.latency),
      cpu(f),
      '1.00×',
    ]);
    rows.push([
      '',
      'crucible over HTTP',
      rate(c.throughput),
      ...latency(c.latency),
      cpu(c),
      `${level.ratio.toFixed(2)}×`,
    ]);
  }
  const stageTable = table([
    ['clients', 'queue wait', 'dispatch→started', 'started→finished', 'finished→stored'],
    ...levels.map((l) => [
      String(l.concurrency),
      ...[l.stages.queueWait, l.stages.start, l.stages.run, l.stages.store].map(
        (s) => `${ms(s.median)} / ${ms(s.p95)}`,
      ),
    ]),
  ]);
  const goal = levels.find((l) => l.concurrency === THROUGHPUT_GOAL.concurrency);
  const verdict = goal
    ? `${goal.ratio.toFixed(2)}× the floor, p95 ${ms(goal.crucible.latency.p95)} vs ${ms(goal.floor.latency.p95)}: ` +
      (goal.ratio >= THROUGHPUT_GOAL.minRatio && goal.crucible.latency.p95 <= goal.floor.latency.p95
        ? 'met'
        : 'NOT met')
    : 'not measured';
  return [
    'throughput of print(1), closed loop (each client submits, waits for the end, repeats)',
    table(rows),
    'CPU/req: CPU of the system under test per request (crucible: the server and its sandboxes; floor: the',
    'spawning process and its sandboxes), from /proc/<pid>/stat, so other load on the machine does not count',
    'stages of the evaluations under load, median / p95 (from the stored timestamps)',
    stageTable,
    `goal at ${THROUGHPUT_GOAL.concurrency} clients: ≥ ${THROUGHPUT_GOAL.minRatio}× the floor's req/s, ` +
      `p95 no worse than the floor's; measured ${verdict}`,
  ].join('\n');
}

/** The CLI's own cost next to `node -e 0`. */
export function formatCliBench(result: CliBenchResult): string {
  const row = (name: string, s: Summary) => [name, ms(s.median), ms(s.p95), String(s.n)];
  const met = result.ratio <= CLI_GOAL_RATIO ? 'met' : 'NOT met';
  return [
    'CLI start-up: crucible run hello.py --json against a running server',
    table([
      ['measure', 'median', 'p95', 'n'],
      row('node -e 0', result.nodeStart),
      row('crucible run hello.py (wall)', result.cliWall),
      row('  minus the evaluation submitted → stored', result.cliOverhead),
    ]),
    `goal: CLI overhead ≤ ${CLI_GOAL_RATIO}× node -e 0; measured ${result.ratio.toFixed(2)}×: ${met}`,
  ].join('\n');
}

function stageRows(
  stages: LocalBenchResult['stages'],
  row: (name: string, s: Summary) => string[],
): string[][] {
  return [
    row('  stage: queue wait', stages.queueWait),
    row('  stage: dispatch → started', stages.start),
    row('  stage: started → finished', stages.run),
    row('  stage: finished → stored', stages.store),
    row('  stored: submitted → stored', stages.submitToStored),
  ];
}

function latency(s: Summary): string[] {
  return [ms(s.median), ms(s.p95), ms(s.p99), String(s.n)];
}

function rate(value: number): string {
  return `${value.toFixed(1)}/s`;
}

function ms(value: number): string {
  return Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`;
}

/** Replicas next to one SQLite server (the floor), with the cross-replica SSE lag against its goal. */
export function formatReplicaBench(levels: readonly ReplicaLevel[]): string {
  const floor = levels[0];
  const rows = [
    [
      'setup',
      'req/s',
      'vs first',
      'median',
      'p95',
      'n',
      'SSE lag p50',
      'SSE lag p99',
      '1 client: p50',
      'p99',
      'commit→published p50',
      'p99',
      '1 client: p50',
      'p99',
    ],
  ];
  const bucket = (pick: (lag: ReplicaLag) => number, lag: ReplicaLag | null) =>
    lag ? `≤ ${ms(pick(lag))}` : '-';
  const bounds = (pick: (s: Summary) => number, lag: ReplicaLevel['sseLagMs']) =>
    lag ? `${ms(pick(lag.lower))} – ${ms(pick(lag.upper))}` : '-';
  for (const level of levels) {
    const l = level.load;
    rows.push([
      level.label,
      rate(l.throughput),
      floor ? `${(l.throughput / floor.load.throughput).toFixed(2)}×` : '-',
      ms(l.latency.median),
      ms(l.latency.p95),
      String(l.latency.n),
      bounds((s) => s.median, level.sseLagMs),
      bounds((s) => s.p99, level.sseLagMs),
      bounds((s) => s.median, level.sseLagIdleMs),
      bounds((s) => s.p99, level.sseLagIdleMs),
      bucket((lag) => lag.p50, level.replicaLagMs),
      bucket((lag) => lag.p99, level.replicaLagMs),
      bucket((lag) => lag.p50, level.replicaLagIdleMs),
      bucket((lag) => lag.p99, level.replicaLagIdleMs),
    ]);
  }
  const lagged = levels.filter((l) => l.replicaLagMs);
  // Judged on commit → published, timed from the database's clock at commit (carried by the notification) to
  // replica 0's publication: the client's bounds around it also count the POST or the client's own delays.
  const verdict = (pick: (l: ReplicaLevel) => ReplicaLag | null) =>
    lagged.every((l) => (pick(l)?.p99 ?? Infinity) <= SSE_LAG_GOAL_MS) ? 'met' : 'NOT met';
  return [
    `replicas: print(1) at ${floor?.load.concurrency ?? 8} clients, round-robin over the replicas; SSE lag = commit on replica k ≠ 0 → seen on replica 0's SSE, bounded below by POST answered → seen and above by POST sent → seen (this process's clock); commit→published = the database's clock at commit → published on replica 0's streams (its crucible_replica_event_lag_seconds histogram, bounded by bucket)`,
    table(rows),
    lagged.length === 0
      ? `goal: SSE lag p99 ≤ ${SSE_LAG_GOAL_MS} ms across replicas — not measured`
      : `goal: SSE lag p99 ≤ ${SSE_LAG_GOAL_MS} ms across replicas (commit→published) — at ${floor?.load.concurrency ?? 8} clients ${verdict((l) => l.replicaLagMs)}, at 1 client ${verdict((l) => l.replicaLagIdleMs)}`,
  ].join('\n');
}
