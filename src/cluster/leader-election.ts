import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pause } from '../runtime/kubernetes/backoff.js';
import { KubeError, toKubeError } from '../runtime/kubernetes/kube-client.js';
import type { LeaderElector, LeadershipCallbacks } from './leader-elector.js';
import {
  createLeaseClient,
  type LeaderRecord,
  type LeaseClient,
  type ObservedLease,
} from './lease-client.js';

/**
 * Leader election over a `coordination.k8s.io/v1` Lease with client-go's semantics
 * (tools/leaderelection): the Lease's spec is the record (holderIdentity, leaseDurationSeconds,
 * acquireTime, renewTime, leaseTransitions); a candidate takes the lease only when it is absent, released
 * (no holder), held by itself, or unchanged for the record's leaseDurationSeconds *as measured on this
 * process's monotonic clock since it last saw the record change* — the remote renewTime is never compared
 * with the local clock, so clock skew between replicas does not matter. Every write is a PUT conditional on
 * the resourceVersion read: two candidates racing for an expired lease get one 200 and one 409.
 *
 * Where this is stricter than client-go, on purpose (a second leader costs duplicated transitions):
 * - the renew deadline counts from the *start* of the last successful renewal (client-go: a new
 *   renewDeadline window opens retryPeriod after each success, so up to retry + deadline);
 * - a leader that reads another holder on the Lease steps down at once rather than at its deadline;
 * - on stop, onStoppedLeading is awaited *before* the release, so the guarded work has ended when a
 *   successor can start (client-go releases first and asks callers to have stopped already);
 * - onStoppedLeading follows only a term that started; after losing, the candidate keeps campaigning
 *   (client-go's Run returns and the process is expected to exit).
 */

export interface ElectionLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface LeaderElectionOptions extends LeadershipCallbacks {
  /** Kubeconfig file; else `KUBECONFIG`/`~/.kube/config`, else the in-cluster service account. */
  readonly kubeconfigPath?: string;
  readonly namespace: string;
  /** The Lease's name: every replica of one service uses the same. */
  readonly name: string;
  /** Unique per process; default `<hostname>_<uuid>`. */
  readonly identity?: string;
  /** How long others wait after the last change they saw before taking over (whole seconds; 15 s). */
  readonly leaseDurationMs?: number;
  /** The leader steps down when it has not renewed for this long (10 s; less than leaseDurationMs). */
  readonly renewDeadlineMs?: number;
  /** Between attempts: renewals every period, acquisition attempts every 1–2.2 periods (2 s). */
  readonly retryPeriodMs?: number;
  readonly log?: ElectionLog;
  /** The Lease client; built from the kubeconfig when absent. */
  readonly leaseClient?: LeaseClient;
}

/** client-go's `JitterFactor`: acquisition attempts are spread over [retry, retry × 2.2). */
const JITTER_FACTOR = 1.2;

type Attempt = 'acquired' | 'held-by-other' | 'failed';

const monotonic = (): number => performance.now();

export function defaultIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

function validated(options: LeaderElectionOptions) {
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const identity = options.identity ?? defaultIdentity();
  if (!options.namespace || !options.name) throw new Error('leader election needs a namespace and a name');
  if (!identity) throw new Error('leader election needs a non-empty identity');
  // The Lease keeps whole seconds (leaseDurationSeconds > 0): a fraction could not be honoured by others.
  if (!Number.isInteger(leaseDurationMs / 1000) || leaseDurationMs < 1000) {
    throw new Error('leaseDurationMs must be a whole number of seconds, at least 1000');
  }
  if (!(retryPeriodMs > 0)) throw new Error('retryPeriodMs must be greater than zero');
  if (!(renewDeadlineMs < leaseDurationMs))
    throw new Error('leaseDurationMs must be greater than renewDeadlineMs');
  if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs)) {
    throw new Error('renewDeadlineMs must be greater than retryPeriodMs × 1.2');
  }
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs, identity };
}

/**
 * @example
 * const election = createLeaderElection({
 *   namespace: 'crucible', name: 'crucible-leader',
 *   onStartedLeading: () => monitor.start(), onStoppedLeading: () => monitor.stop(),
 * });
 * await election.start();
 * …
 * await election.stop(); // releases the lease: another replica leads at once
 */
export function createLeaderElection(
  options: LeaderElectionOptions,
): LeaderElector & { readonly leader: string } {
  return new LeaseElection(options);
}

class LeaseElection implements LeaderElector {
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private client: LeaseClient | null;
  private leading = false;
  /** The Lease as last read or written, the record's JSON then, and when (monotonic) it last changed. */
  private observed: ObservedLease | null = null;
  private observedRecord = '';
  private observedAt = 0;
  /** Monotonic start of the last attempt that acquired or renewed: the leader's deadline counts from it. */
  private renewedAt = 0;
  private reportedLeader = '';
  private failing = false;
  private stopping: AbortController | null = null;
  private loop: Promise<void> | null = null;
  /** Callbacks run one after another, so a stop never overtakes the start it ends. */
  private callbacks: Promise<void> = Promise.resolve();

  constructor(private readonly options: LeaderElectionOptions) {
    const settings = validated(options);
    this.identity = settings.identity;
    this.leaseDurationMs = settings.leaseDurationMs;
    this.renewDeadlineMs = settings.renewDeadlineMs;
    this.retryPeriodMs = settings.retryPeriodMs;
    this.client = options.leaseClient ?? null;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the Lease ('' when none). */
  get leader(): string {
    return this.observed?.record.holderIdentity ?? '';
  }

  async start(): Promise<void> {
    if (this.stopping) return;
    const stopping = (this.stopping = new AbortController());
    try {
      this.client ??= await createLeaseClient(this.options);
    } catch (error) {
      this.stopping = null; // a bad kubeconfig: a later start may try again
      throw error;
    }
    if (stopping.signal.aborted) {
      // stop() ran while the client was being built; it had nothing to close yet.
      if (!this.options.leaseClient) await this.client.close();
      this.client = this.options.leaseClient ?? null;
      return;
    }
    let firstAttemptDone = (): void => undefined;
    const firstAttempt = new Promise<void>((resolve) => (firstAttemptDone = resolve));
    this.loop = (async () => {
      try {
        while (!stopping.signal.aborted) {
          const wait = await this.step();
          firstAttemptDone();
          await pause(wait, stopping.signal);
        }
      } catch (error) {
        this.options.log?.warn(`leader election ${this.describe()} stopped: ${String(error)}`);
        if (this.leading) this.stepDown('the election loop failed');
      } finally {
        firstAttemptDone();
      }
    })();
    await firstAttempt;
  }

  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    const stopping = this.stopping;
    if (!stopping) return;
    stopping.abort();
    await this.loop;
    this.loop = null;
    if (this.leading) this.stepDown('stopping', 'info');
    await this.callbacks;
    if (release) await this.release();
    if (!this.options.leaseClient) {
      await this.client?.close();
      this.client = null;
    }
    this.stopping = null;
  }

  /** One round of the loop; answers how long to wait before the next. */
  private async step(): Promise<number> {
    const started = monotonic();
    if (!this.leading) {
      const outcome = await this.tryAcquireOrRenew(this.renewDeadlineMs);
      if (outcome !== 'acquired') return this.retryPeriodMs * (1 + Math.random() * JITTER_FACTOR);
      this.renewedAt = started;
      this.becomeLeader();
      return this.retryPeriodMs;
    }
    // Measured from the start of the last successful renewal: the write landed after that instant, so
    // every other candidate waits a full lease duration beyond it, and renewDeadline < leaseDuration.
    const deadline = this.renewedAt + this.renewDeadlineMs;
    if (started >= deadline) {
      this.stepDown(`no renewal for ${this.renewDeadlineMs} ms`);
      return this.retryPeriodMs;
    }
    const outcome = await this.tryAcquireOrRenew(deadline - started);
    if (outcome === 'acquired') {
      this.renewedAt = started;
      return this.retryPeriodMs;
    }
    if (outcome === 'held-by-other') {
      this.stepDown(`the lease is held by ${this.leader}`);
      return this.retryPeriodMs;
    }
    return Math.max(0, Math.min(this.retryPeriodMs, deadline - monotonic()));
  }

  /** client-go's tryAcquireOrRenew: one read-decide-write, never longer than `timeoutMs`. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    const client = this.client!;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = AbortSignal.any([timeout.signal, this.stopping!.signal]);
    const now = new Date().toISOString();
    const record = (base: LeaderRecord | null): LeaderRecord => {
      const renewing = base?.holderIdentity === this.identity;
      return {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationMs / 1000,
        acquireTime: renewing ? base!.acquireTime : now,
        renewTime: now,
        leaseTransitions: base ? base.leaseTransitions + (renewing ? 0 : 1) : 0,
      };
    };
    try {
      // Fast path: the leader writes over what it last saw; a 409 means someone else wrote, so read it.
      if (this.leading && this.observed && this.leaseValid()) {
        try {
          return this.acquired(await client.update(this.observed, record(this.observed.record), signal));
        } catch (error) {
          if (!isConflict(error)) throw error;
        }
      }
      const current = await client.get(signal);
      if (!current) return this.acquired(await client.create(record(null), signal));
      this.observe(current, false);
      const holder = current.record.holderIdentity;
      if (holder && holder !== this.identity && this.leaseValid()) return this.settled('held-by-other');
      return this.acquired(await client.update(current, record(current.record), signal));
    } catch (error) {
      return this.settled('failed', toKubeError(error));
    } finally {
      clearTimeout(timer);
    }
  }

  private acquired(lease: ObservedLease): Attempt {
    this.observe(lease, true);
    return this.settled('acquired');
  }

  /** Logs the start and end of a run of failures (not each one), and reports a new leader. */
  private settled(outcome: Attempt, error?: KubeError): Attempt {
    if (error && isConflict(error)) {
      // Lost a race for the lease: someone else wrote first. Not a fault.
    } else if (error && !this.failing) {
      this.failing = true;
      this.options.log?.warn(`leader election ${this.describe()}: ${error.message}`);
    } else if (!error && this.failing) {
      this.failing = false;
      this.options.log?.info(`leader election ${this.describe()}: the API server answers again`);
    }
    const holder = this.leader;
    if (holder && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      try {
        this.options.onNewLeader?.(holder);
      } catch (callbackError) {
        this.options.log?.warn(`onNewLeader failed: ${String(callbackError)}`);
      }
    }
    return outcome;
  }

  /** Records what the Lease says; the expiry clock restarts only when the record itself changed. */
  private observe(lease: ObservedLease, writtenByUs: boolean): void {
    const record = JSON.stringify(lease.record);
    if (writtenByUs || record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = monotonic();
    }
    this.observed = lease;
  }

  /** client-go's isLeaseValid: the record's own duration, counted from when this process saw it change. */
  private leaseValid(): boolean {
    const seconds = this.observed?.record.leaseDurationSeconds ?? 0;
    return this.observedAt + seconds * 1000 > monotonic();
  }

  private becomeLeader(): void {
    this.leading = true;
    this.options.log?.info(`leader election ${this.describe()}: ${this.identity} is the leader`);
    this.chain(() => this.options.onStartedLeading());
  }

  private stepDown(reason: string, level: 'info' | 'warn' = 'warn'): void {
    this.leading = false;
    this.options.log?.[level](
      `leader election ${this.describe()}: ${this.identity} stops leading (${reason})`,
    );
    this.chain(() => this.options.onStoppedLeading());
  }

  private chain(callback: () => void | Promise<void>): void {
    this.callbacks = this.callbacks
      .then(callback)
      .catch((error: unknown) => this.options.log?.warn(`leadership callback failed: ${String(error)}`));
  }

  /**
   * ReleaseOnCancel: clears the holder so others take over without waiting out the lease (client-go
   * writes leaseDurationSeconds 1 and keeps leaseTransitions). Conditional on the last version seen: if
   * anyone wrote since, the lease is no longer ours to release. Runs after onStoppedLeading has finished,
   * so the guarded work has stopped before a successor can start.
   */
  private async release(): Promise<void> {
    const lease = this.observed;
    if (!lease || lease.record.holderIdentity !== this.identity || !this.client) return;
    const now = new Date().toISOString();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.renewDeadlineMs);
    try {
      const released = await this.client.update(
        lease,
        { ...lease.record, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
        timeout.signal,
      );
      this.observe(released, true);
      this.options.log?.info(`leader election ${this.describe()}: ${this.identity} released the lease`);
    } catch (error) {
      this.options.log?.warn(
        `leader election ${this.describe()}: release failed: ${toKubeError(error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private describe(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }
}

function isConflict(error: unknown): boolean {
  return error instanceof KubeError && error.code === 409;
}
