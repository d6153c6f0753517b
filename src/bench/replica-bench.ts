import { Crucible } from '../client/index.js';
import { closedLoop, summarizeLoad, type LoadResult } from './load.js';
import { histogramDelta, histogramOf, quantileBound } from './prometheus.js';
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
  /**
   * Commit → seen on another replica's SSE, bounded, ms: the commit happens inside the POST to replica k ≠ 0,
   * so "POST sent → its `queued` transition on replica 0's SSE" bounds it from above and "POST answered → …"
   * from below. Null with one replica.
   */
  readonly sseLagMs: LagBounds | null;
  /** The same with one client: the lag when the machine has CPU to spare. */
  readonly sseLagIdleMs: LagBounds | null;
  /**
   * Commit (the database's clock, carried by the notification) → published on replica 0's event streams,
   * from replica 0's `crucible_replica_event_lag_seconds` histogram: p50/p99 bounded by their bucket, ms.
   */
  readonly replicaLagMs: ReplicaLag | null;
  readonly replicaLagIdleMs: ReplicaLag | null;
}

export interface ReplicaLag {
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
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
 * events across replicas, timed by this process's clock alone: from sending a submission to replica k ≠ 0 to
 * its `queued` transition arriving on replica 0's SSE stream.
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
  const clients = servers.map((s) => new Crucible({ baseUrl: s.url, retry: { attempts: 1 } }));
  const sentAt = new Map<string, { sent: number; answered: number }>();
  let turn = 0;
  const roundRobin = async () => {
    const index = turn++ % clients.length;
    const client = clients[index]!;
    const sent = performance.now();
    const submitted = await client.submit({ language: 'python', code: 'print(1)' });
    if (index !== 0) sentAt.set(submitted.id, { sent, answered: performance.now() });
    const final = await client.wait(submitted.id, { timeoutSeconds: 30 });
    if (final.status !== 'succeeded' || final.result?.stdout !== '1\n') {
      throw new Error(
        `benchmark evaluation ${final.id} ended ${final.status}: ${JSON.stringify(final.result)}`,
      );
    }
  };
  await closedLoop(concurrency, 1000, roundRobin);
  sentAt.clear();

  const loaded = await timedLag(clients, sentAt, () => closedLoop(concurrency, measureMs, roundRobin));
  // The same lag with CPU to spare: one client, so no replica waits for a core.
  const idle = await timedLag(clients, sentAt, () => closedLoop(1, Math.min(measureMs, 3000), roundRobin));
  return {
    label: setup.label,
    replicas: servers.length,
    load: summarizeLoad([loaded.window]),
    sseLagMs: loaded.lag,
    sseLagIdleMs: idle.lag,
    replicaLagMs: loaded.replicaLag,
    replicaLagIdleMs: idle.replicaLag,
  };
}

type LagBounds = { readonly upper: Summary; readonly lower: Summary };

/** Runs `load` with replica 0's SSE stream open; the lag bounds of the submissions `load` sent elsewhere. */
async function timedLag<W>(
  clients: readonly Crucible[],
  sentAt: Map<string, { sent: number; answered: number }>,
  load: () => Promise<W>,
): Promise<{ window: W; lag: LagBounds | null; replicaLag: ReplicaLag | null }> {
  sentAt.clear();
  if (clients.length < 2) return { window: await load(), lag: null, replicaLag: null };
  const seenAt = new Map<string, number>();
  const watching = new AbortController();
  const watched = watchQueued(clients[0]!, seenAt, watching.signal);
  await watched.ready;
  const lagBefore = await replicaLagHistogram(clients[0]!);
  const window = await load();
  const lagObserved = histogramDelta(await replicaLagHistogram(clients[0]!), lagBefore);
  watching.abort();
  await watched.done;
  const upper: number[] = [];
  const lower: number[] = [];
  for (const [id, { sent, answered }] of sentAt) {
    const seen = seenAt.get(id);
    if (seen === undefined) continue;
    upper.push(seen - sent);
    lower.push(Math.max(0, seen - answered));
  }
  if (upper.length < sentAt.size) {
    throw new Error(`replica 0's stream missed ${sentAt.size - upper.length} of ${sentAt.size} submissions`);
  }
  const p50 = quantileBound(lagObserved, 0.5);
  const p99 = quantileBound(lagObserved, 0.99);
  const replicaLag =
    p50 === null || p99 === null
      ? null
      : { p50: p50 * 1000, p99: p99 * 1000, n: lagObserved.at(-1)?.count ?? 0 };
  return { window, lag: { upper: summarize(upper), lower: summarize(lower) }, replicaLag };
}

function replicaLagHistogram(client: Crucible) {
  return client.metrics().then((text) => histogramOf(text, 'crucible_replica_event_lag_seconds'));
}

/**
 * SSE on replica 0, from the newest transition on: when each evaluation's `queued` transition arrived. For
 * the evaluations submitted to the other replicas, arrival − the moment their POST was sent bounds the lag
 * from commit (inside the POST) to another replica's stream from above: it also counts the request itself.
 */
function watchQueued(
  observer: Crucible,
  seenAt: Map<string, number>,
  signal: AbortSignal,
): { ready: Promise<void>; done: Promise<void> } {
  const ready = latestSeq(observer);
  const done = (async () => {
    const after = await ready;
    try {
      for await (const transition of observer.events({ after, signal })) {
        if (transition.to === 'queued') seenAt.set(transition.evaluationId, performance.now());
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
