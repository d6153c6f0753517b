import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createLeaderElection, type LeaderElectionOptions } from '../../src/cluster/index.js';
import type { FakeApiOnly } from '../../testkit/fake-kube/index.js';

export { eventually } from '../runtime/tracked.js';

export const NAMESPACE = 'crucible-test';

/** Short timings so a takeover happens in about a second: lease 1 s (the Lease keeps whole seconds). */
export const FAST = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 } as const;

/** One term of one candidate, on the test process's monotonic clock. */
export interface Term {
  readonly identity: string;
  readonly startedAt: number;
  stoppedAt: number | null;
}

/** One write of the Lease as the fake API server stored it. */
export interface LeaseWrite {
  readonly at: number;
  readonly holder: string;
  readonly transitions: number;
  readonly durationSeconds: number;
  readonly acquireTime: string;
  readonly renewTime: string;
}

/**
 * Records every candidate's terms (from its callbacks) and every write of the Lease (from the fake API
 * server's store), so tests assert on observed timings rather than sleeping.
 */
export class Election {
  readonly terms: Term[] = [];
  readonly writes: LeaseWrite[] = [];
  readonly newLeaders = new Map<string, string[]>();
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(
    readonly api: FakeApiOnly,
    readonly name: string,
  ) {
    this.unsubscribe = api.store.subscribe((event) => {
      if (event.resource !== 'leases' || event.object.metadata.name !== name) return;
      if (event.type === 'DELETED') return;
      const spec = (event.object.spec ?? {}) as Record<string, unknown>;
      this.writes.push({
        at: performance.now(),
        holder: String(spec['holderIdentity'] ?? ''),
        transitions: Number(spec['leaseTransitions'] ?? 0),
        durationSeconds: Number(spec['leaseDurationSeconds'] ?? 0),
        acquireTime: String(spec['acquireTime'] ?? ''),
        renewTime: String(spec['renewTime'] ?? ''),
      });
      this.changed();
    });
  }

  candidate(identity: string, options: Partial<LeaderElectionOptions> = {}) {
    return createLeaderElection({
      kubeconfigPath: this.api.kubeconfigPath,
      namespace: NAMESPACE,
      name: this.name,
      identity,
      ...FAST,
      onStartedLeading: () => {
        this.terms.push({ identity, startedAt: performance.now(), stoppedAt: null });
        this.changed();
      },
      onStoppedLeading: () => {
        const term = this.terms.findLast((t) => t.identity === identity && t.stoppedAt === null);
        if (term) term.stoppedAt = performance.now();
        this.changed();
      },
      onNewLeader: (leader) => {
        this.newLeaders.set(identity, [...(this.newLeaders.get(identity) ?? []), leader]);
        this.changed();
      },
      ...options,
    });
  }

  /** Terms currently open. */
  leaders(): string[] {
    return this.terms.filter((t) => t.stoppedAt === null).map((t) => t.identity);
  }

  /** Fails if two terms ever overlapped: each term starts after every earlier one has stopped. */
  assertNoOverlap(): void {
    const sorted = [...this.terms].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < sorted.length; i += 1) {
      const previous = sorted[i - 1]!;
      const next = sorted[i]!;
      if (previous.stoppedAt === null || previous.stoppedAt > next.startedAt) {
        throw new Error(`terms overlap: ${JSON.stringify(previous)} and ${JSON.stringify(next)}`);
      }
    }
  }

  /** Resolves when `condition` holds, re-checked at every term change and Lease write. */
  until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`condition not met in ${timeoutMs} ms; terms ${JSON.stringify(this.terms)}`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** The first write by `holder` after time `after`. */
  firstWriteBy(holder: string, after = 0): LeaseWrite | undefined {
    return this.writes.find((w) => w.holder === holder && w.at > after);
  }

  lastWriteBy(holder: string): LeaseWrite | undefined {
    return this.writes.findLast((w) => w.holder === holder);
  }

  close(): void {
    this.unsubscribe();
  }

  private changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * A TCP proxy in front of the fake API server, so one candidate can be cut off (connections reset and
 * refused) while the others still reach it: a network partition of one replica.
 */
export async function startProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : port;
  };
  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    /** Resets every connection and refuses new ones. */
    async cut(): Promise<void> {
      const closing = server;
      server = null;
      for (const socket of sockets) socket.destroy();
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    heal: listen,
    close(): Promise<void> {
      return this.cut();
    },
  };
}
