/**
 * Kubernetes runtime bench on the fake API server: how long after the cluster's own event (the pod status
 * write that the watch carries) Crucible reports the transition, for the watch monitor and, as the baseline
 * the seeds had, the poll monitor; and the end-to-end time of `print(1)`.
 *
 * Run: `npx tsx bench/kubernetes.ts` (or call `benchKubernetes()`).
 */
import { pathToFileURL } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { applyEvent, DEFAULT_LIMITS, type Evaluation, type RunOutcome } from '../src/core/index.js';
import { createKubernetesRuntime } from '../src/runtime/kubernetes/index.js';
import { labelValue } from '../src/runtime/kubernetes/names.js';
import type { RunObserver, RunRequest } from '../src/runtime/runtime.js';
import { closeSharedSandbox, startFakeCluster, type FakeCluster } from '../testkit/fake-kube/index.js';

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface KubernetesBenchResult {
  watchLagMs: Percentiles;
  printOneMs: { median: number; p95: number };
  pollLagMs: Percentiles;
  samples: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (n: number): number => Math.round(n * 100) / 100;
const percentiles = (v: number[]): Percentiles => ({
  p50: round(percentile(v, 50)),
  p95: round(percentile(v, 95)),
  p99: round(percentile(v, 99)),
});

/** Times at which the fake API server committed the pod status that carries each transition. */
function recordCommits(cluster: FakeCluster): Map<string, { running?: number; terminated?: number }> {
  const commits = new Map<string, { running?: number; terminated?: number }>();
  cluster.store.subscribe((event) => {
    if (event.resource !== 'pods' || event.type === 'DELETED') return;
    const pod = event.object as unknown as V1Pod;
    const label = pod.metadata?.labels?.['crucible.dev/evaluation'];
    const state = pod.status?.containerStatuses?.[0]?.state;
    if (!label || !state) return;
    const entry = commits.get(label) ?? {};
    if (state.running && entry.running === undefined) entry.running = performance.now();
    if (state.terminated && entry.terminated === undefined) entry.terminated = performance.now();
    commits.set(label, entry);
  });
  return commits;
}

async function runMany(
  cluster: FakeCluster,
  monitor: 'watch' | 'poll',
  count: number,
  concurrency: number,
): Promise<{ lags: number[]; endToEnd: number[] }> {
  const commits = recordCommits(cluster);
  const runtime = await createKubernetesRuntime({
    namespace: 'crucible-bench',
    kubeconfigPath: cluster.kubeconfigPath,
    monitor,
    pollIntervalMs: 1000,
    logRetryMs: 10,
  });
  const lags: number[] = [];
  const endToEnd: number[] = [];
  let next = 0;
  async function one(): Promise<void> {
    const index = next++;
    const request: RunRequest = {
      evaluationId: `bench-${monitor}-${index}-${Date.now()}`,
      language: 'python',
      code: 'print(1)',
      stdin: '',
      limits: { ...DEFAULT_LIMITS, timeoutSeconds: 10 },
      priority: 'normal',
      labels: {},
    };
    const label = labelValue(request.evaluationId);
    const submitted = performance.now();
    let evaluation = { status: 'starting', timings: {}, result: null } as unknown as Evaluation;
    await new Promise<void>((resolve, reject) => {
      const observer: RunObserver = {
        started: (at) => {
          const c = commits.get(label)?.running;
          if (c !== undefined) lags.push(performance.now() - c);
          evaluation = applyEvent(evaluation, { type: 'started', at }, new Date())?.evaluation ?? evaluation;
        },
        output: () => undefined,
        finished: (outcome: RunOutcome) => {
          const c = commits.get(label)?.terminated;
          if (c !== undefined) lags.push(performance.now() - c);
          endToEnd.push(performance.now() - submitted);
          if (outcome.kind !== 'exited' || outcome.exitCode !== 0)
            reject(new Error(`print(1) ended ${JSON.stringify(outcome)}`));
          else resolve();
        },
      };
      runtime.start(request, observer).catch(reject);
    });
  }
  async function worker(): Promise<void> {
    while (next < count) await one();
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  await runtime.close();
  return { lags, endToEnd };
}

export async function benchKubernetes(
  options: { iterations?: number; concurrency?: number; pollIterations?: number } = {},
): Promise<KubernetesBenchResult> {
  const cluster = await startFakeCluster();
  try {
    // Warm-up: first interpreter starts and connections.
    await runMany(cluster, 'watch', 3, 1);
    const watch = await runMany(cluster, 'watch', options.iterations ?? 40, options.concurrency ?? 2);
    const poll = await runMany(cluster, 'poll', options.pollIterations ?? 6, 2);
    return {
      watchLagMs: percentiles(watch.lags),
      printOneMs: {
        median: round(percentile(watch.endToEnd, 50)),
        p95: round(percentile(watch.endToEnd, 95)),
      },
      pollLagMs: percentiles(poll.lags),
      samples: watch.lags.length,
    };
  } finally {
    await cluster.close();
    await closeSharedSandbox();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchKubernetes();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `watch → transition lag p50 ${result.watchLagMs.p50} ms, p99 ${result.watchLagMs.p99} ms (goal ≤ 100 ms); ` +
      `poll (1 s interval) p50 ${result.pollLagMs.p50} ms; print(1) end-to-end median ${result.printOneMs.median} ms\n`,
  );
}
