import { Crucible } from '../client/index.js';
import { printOneTask } from './evaluation-task.js';
import { closedLoop, summarizeLoad, type LoadResult } from './load.js';
import { startBenchServer, type BenchServer } from './server-process.js';
import { summarize, type Summary } from './stats.js';

export interface ReplicaSetup {
  readonly label: string;
  /** `sqlite:…` (omitted: each server's own) or a `postgres://` URL shared by the replicas. */
  readonly store?: string;
  readonly replicas: number;
}

export interface ReplicaLevel {
  readonly label: string;
  readonly replicas: number;
  readonly load: LoadResult;
  /** Transition committed (its stored `at`) → seen on another replica's SSE, ms; null with one replica. */
  readonly sseLagMs: Summary | null;
}

export interface ReplicaBenchOptions {
  readonly setups: readonly ReplicaSetup[];
  readonly concurrency?: number;
  readonly measureMs?: number;
  readonly log?: (line: string) => void;
}

/** The goal for events across replicas: p99 ≤ 50 ms from commit to another replica's SSE. */
export const SSE_LAG_GOAL_MS = 50;

/**
 * Throughput of `print(1)` at 8 clients spread round-robin over N `crucible serve` replicas, and the lag of
 * events across replicas: an SSE stream on replica 0 times every transition of evaluations submitted to the
 * others, from the transition's stored `at` to the moment the stream delivered it (one clock: one machine).
 */
export async function benchReplicas(options: ReplicaBenchOptions): Promise<ReplicaLevel[]> {
  const log = options.log ?? (() => undefined);
  const concurrency = options.concurrency ?? 8;
  const results: ReplicaLevel[] = [];
  for (const setup of options.setups) {
    log(`replicas: ${setup.label}, ${concurrency} clients for ${options.measureMs ?? 6000} ms`);
    const servers: BenchServer[] = [];
    try {
      for (let i = 0; i < setup.replicas; i++) {
        servers.push(
          await startBenchServer({
            sandbox: 'bwrap',
            serveFlags: [...(setup.store ? ['--store', setup.store] : []), ...['--replica-id', `bench-${i}`]],
          }),
        );
      }
      results.push(await measure(setup, servers, concurrency, options.measureMs ?? 6000));
    } finally {
      for (const server of servers) await server.stop();
    }
  }
  return results;
}

async function measure(
  setup: ReplicaSetup,
  servers: readonly BenchServer[],
  concurrency: number,
  measureMs: number,
): Promise<ReplicaLevel> {
  const tasks = servers.map((s) => printOneTask(s.url));
  let turn = 0;
  const roundRobin = () => tasks[turn++ % tasks.length]!();
  await closedLoop(concurrency, 1000, roundRobin);

  const lags: number[] = [];
  const watching = new AbortController();
  const watched = servers.length > 1 ? watchLag(servers, lags, watching.signal) : null;
  await watched?.ready;
  const load = summarizeLoad([await closedLoop(concurrency, measureMs, roundRobin)]);
  watching.abort();
  await watched?.done;
  return {
    label: setup.label,
    replicas: servers.length,
    load,
    sseLagMs: watched ? summarize(lags) : null,
  };
}

/**
 * SSE on replica 0, from the newest transition on: every transition that arrives is timed. About two thirds
 * were written by the other replicas (they took those submissions and claims); replica 0's own go through
 * the same path (NOTIFY, then a read of the store), so they are timed alike.
 */
function watchLag(
  servers: readonly BenchServer[],
  lags: number[],
  signal: AbortSignal,
): { ready: Promise<void>; done: Promise<void> } {
  const observer = new Crucible({ baseUrl: servers[0]!.url });
  const ready = latestSeq(observer);
  const done = (async () => {
    const after = await ready;
    try {
      for await (const transition of observer.events({ after, signal })) {
        lags.push(Date.now() - Date.parse(transition.at));
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  })();
  return { ready: ready.then(() => undefined), done };
}

/** The newest transition seq, from the newest evaluation (the stream then starts live). */
async function latestSeq(client: Crucible): Promise<number> {
  const page = await client.list({ limit: 1 });
  const newest = page.items[0];
  if (!newest) return 0;
  const transitions = await client.transitions(newest.id);
  return transitions.at(-1)?.seq ?? 0;
}
