import { randomUUID } from 'node:crypto';
import {
  CrucibleError,
  applyEvent,
  findLanguage,
  isTerminal,
  type Evaluation,
  type LifecycleEvent,
  type Limits,
  type LogChunk,
  type Priority,
  type Submission,
  type Transition,
} from '../core/index.js';
import type { EventBus, StoreEventFeed, TransitionEvent } from '../events/index.js';
import type { ClusterInfo, DeliveredBytes, RunObserver, Runtime } from '../runtime/runtime.js';
import { ClaimLoop, Slots } from '../scheduler/index.js';
import {
  IdempotencyKeyTaken,
  type Claimed,
  type EvaluationStore,
  type IdempotencyKey,
  type IdempotentSubmission,
  type ListPage,
  type ListQuery,
} from '../store/store.js';
import { assertSameSubmission, fingerprintOf, type SubmitOptions } from './idempotency.js';
import { newEvaluation, runRequestOf, shutdownOutcome } from './evaluation-mapping.js';
import { DEFAULT_STORE_RETRY, persistently, type RetryPolicy } from './persist.js';
import { ProjectRuns } from './project-runs.js';
import { ProjectService } from './projects.js';
import { DEFAULT_LEASE_MS, ReplicaLease } from './replica-lease.js';
import { RunContext } from './run-context.js';
import { createRunObserver } from './run-observer.js';
import { DEFAULT_MAX_BACKLOG, followLogs, followTransitions, type LogFollowOptions } from './streams.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface EvaluationServiceOptions {
  readonly store: EvaluationStore;
  readonly runtime: Runtime;
  readonly bus: EventBus;
  /**
   * Set when several replicas share the store: transitions are then published through it, in seq order with
   * every other replica's.
   */
  readonly feed?: StoreEventFeed;
  /** This replica's name: the owner of what it claims. Unique among replicas sharing a store. */
  readonly replicaId: string;
  /** Evaluations this replica runs at once (its slots). */
  readonly concurrency: number;
  /** Evaluations `starting`/`running` at once across every replica; default: no limit beyond the slots. */
  readonly globalConcurrency?: number;
  /** How long this replica's lease on its work lasts without renewal (default 15 s). */
  readonly leaseMs?: number;
  readonly agingMs: number;
  readonly defaultLimits: Limits;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** How run writes (transitions, logs) are retried while the store fails. */
  readonly storeRetry?: RetryPolicy;
  /** A follower this many events behind is dropped with `slow_consumer`. */
  readonly maxFollowerBacklog?: number;
}

export interface EvaluationWithOutput {
  readonly evaluation: Evaluation;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Submitted {
  readonly evaluation: Evaluation;
  /** True when an earlier submission with the same idempotency key was returned; nothing new was stored. */
  readonly replayed: boolean;
}

export interface QueueStats {
  readonly queued: Record<Priority, number>;
  /** `starting` + `running` across every replica. */
  readonly running: number;
  /** The global limit, or this replica's slots when there is none. */
  readonly capacity: number;
  readonly replica: ReplicaStats;
}

export interface ReplicaStats {
  readonly id: string;
  /** Slots held here (a cancelled run keeps its slot until its sandbox is gone). */
  readonly running: number;
  readonly slots: number;
  /** False on a replica that only serves the API (not the leader). */
  readonly working: boolean;
}

export type { SubmitOptions } from './idempotency.js';

/** Attempts a run write gets once the server is stopping, before it gives up (the store may be gone). */
const ATTEMPTS_WHILE_STOPPING = 3;

/**
 * The application layer: every way in (HTTP, CLI) goes through here, and only here are the store, the
 * slots, the runtime and the state machine put together.
 *
 * Work: the store is the queue. A replica that works claims queued evaluations (`claimQueued`: priority order
 * with aging, one global limit, each claimed by exactly one replica) into its free slots, owns them under a
 * lease it keeps renewing, and re-adopts or ends the work of replicas whose lease ran out. A replica that
 * does not work (a follower under leader election) serves the API only.
 *
 * Slots: a slot is held from the claim until the sandbox is gone — the run's `finished` was persisted, or a
 * cancel was delivered to the runtime after its launch returned — never merely until the status turned
 * terminal, so a cancelled program still being killed keeps counting against the limit.
 */
export class EvaluationService {
  /** Projects, when the store keeps them (both built-in stores do). */
  readonly projects: ProjectService | null;
  readonly #store: EvaluationStore;
  readonly #bus: EventBus;
  readonly #feed: StoreEventFeed | undefined;
  readonly #runtime: Runtime;
  readonly #replica: string;
  readonly #slots: Slots;
  readonly #claims: ClaimLoop;
  readonly #lease: ReplicaLease;
  readonly #leaseMs: number;
  readonly #globalConcurrency: number | undefined;
  readonly #agingMs: number;
  readonly #defaults: Limits;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #newId: () => string;
  readonly #retry: RetryPolicy;
  readonly #maxBacklog: number;
  readonly #runs = new Map<string, RunContext>();
  readonly #projectRuns: ProjectRuns;
  /** Transitions are written and published one at a time, so SSE sees them in `seq` order. */
  #transitions: Promise<unknown> = Promise.resolve();
  #stopping = false;
  #working = false;
  #reaping: Promise<void> | null = null;
  #reapTimer: NodeJS.Timeout | undefined;
  #offBus: (() => void) | undefined;

  constructor(options: EvaluationServiceOptions) {
    this.#store = options.store;
    this.#bus = options.bus;
    this.#feed = options.feed;
    this.#runtime = options.runtime;
    this.#replica = options.replicaId;
    this.#defaults = options.defaultLimits;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
    this.#retry = options.storeRetry ?? DEFAULT_STORE_RETRY;
    this.#maxBacklog = options.maxFollowerBacklog ?? DEFAULT_MAX_BACKLOG;
    this.#agingMs = options.agingMs;
    this.#globalConcurrency = options.globalConcurrency;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#slots = new Slots(options.concurrency);
    this.#claims = new ClaimLoop({
      freeSlots: () => this.#slots.free,
      claim: (max) => this.#claim(max),
      onError: (error) => this.#log.warn(`claiming queued evaluations failed; retrying: ${messageOf(error)}`),
    });
    this.#feed?.awaitLocalWrites(() => this.#transitions);
    this.#projectRuns = new ProjectRuns(options.store.projects);
    this.projects = options.store.projects
      ? new ProjectService({
          store: options.store.projects,
          runtime: options.runtime,
          evaluations: { activeOf: (id) => this.#activeOf(id), cancel: (id) => this.cancel(id) },
          now: this.#now,
        })
      : null;
    this.#lease = new ReplicaLease(this.#store, this.#replica, this.#leaseMs, (error) =>
      this.#log.warn(`renewing the lease of replica ${this.#replica} failed: ${messageOf(error)}`),
    );
  }

  get runtimeName(): string {
    return this.#runtime.name;
  }

  get replicaId(): string {
    return this.#replica;
  }

  /**
   * Starts serving: takes this replica's lease and follows every transition (this replica's and, on a shared
   * store, everyone's). With `work` (the default), also starts working — see `startWork`.
   */
  async start(options: { work?: boolean } = {}): Promise<void> {
    this.#offBus = this.#bus.onTransition((event) => this.#onTransition(event));
    await this.#feed?.start();
    await this.#lease.start();
    if (options.work !== false) await this.startWork();
  }

  /**
   * Starts running evaluations: first the orphans — `starting`/`running` evaluations whose owner's lease ran
   * out (after a restart on SQLite: all of them), each offered to `runtime.adopt` and ended as `error` /
   * `lost_on_restart` when the runtime cannot find it (a local sandbox dies with its server); nothing is ever
   * run twice — then claiming queued ones, and looking for orphans again every half lease.
   */
  async startWork(): Promise<void> {
    if (this.#working || this.#stopping) return;
    this.#working = true;
    await this.#reapOrphans();
    this.#reapTimer = setInterval(() => void this.#reapOrphans(), this.#leaseMs / 2);
    this.#reapTimer.unref();
    this.#claims.start();
  }

  /**
   * Stops dispatching and closes the runtime. Runs a local runtime kills on close end as `error` /
   * `infrastructure` ("the server shut down"), not as the program's own failure; runtimes that keep running
   * without us (Kubernetes Jobs) report nothing and are re-adopted by the next replica that works.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#working = false;
    clearInterval(this.#reapTimer);
    await this.#claims.stop();
    await this.#reaping;
    await this.#runtime.close();
    await Promise.all([...this.#runs.values()].map((run) => run.idle()));
    await this.#transitions;
    this.#offBus?.();
    await this.#feed?.stop();
    await this.#lease.stop();
  }

  async submit(submission: Submission, options: SubmitOptions = {}): Promise<Submitted> {
    const language = findLanguage(submission.language);
    if (!language) {
      throw new CrucibleError('unknown_language', `unknown language "${submission.language}"`, 'language');
    }
    await this.#projectRuns.check(submission, this.#defaults.memoryMb);
    const key: IdempotencyKey | undefined =
      options.idempotencyKey === undefined
        ? undefined
        : {
            scope: options.caller ?? 'anonymous',
            key: options.idempotencyKey,
            fingerprint: fingerprintOf(submission),
          };
    const evaluation = newEvaluation(submission, {
      id: this.#newId(),
      language: language.id,
      now: this.#now(),
      defaults: this.#defaults,
      runtime: this.#runtime.name,
    });
    let earlier: IdempotentSubmission | null;
    try {
      earlier = await this.#serially(async () => {
        const found = key ? await this.#store.findIdempotent(key.scope, key.key) : null;
        if (found) return found;
        const transition = await this.#store.create(evaluation, key);
        this.#publish({ transition, evaluation });
        return null;
      });
    } catch (error) {
      // Another replica recorded the key between our look-up and our insert.
      if (!(error instanceof IdempotencyKeyTaken) || !key) throw error;
      earlier = await this.#store.findIdempotent(key.scope, key.key);
      if (!earlier) throw error;
    }
    if (earlier && key) {
      assertSameSubmission(earlier, key);
      return { evaluation: await this.get(earlier.evaluationId), replayed: true };
    }
    this.#claims.wake();
    return { evaluation, replayed: false };
  }

  async get(id: string): Promise<Evaluation> {
    const evaluation = await this.#store.get(id);
    if (!evaluation) throw new CrucibleError('not_found', `no evaluation with id "${id}"`, 'id');
    return evaluation;
  }

  async withOutput(evaluation: Evaluation): Promise<EvaluationWithOutput> {
    const chunks = await this.#store.readLogs(evaluation.id);
    const join = (stream: 'stdout' | 'stderr') =>
      Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString('utf8');
    return { evaluation, stdout: join('stdout'), stderr: join('stderr') };
  }

  /** Resolves with the evaluation once it is terminal, or as it is after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<Evaluation> {
    let unsubscribe = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const terminal = new Promise<void>((resolve) => {
      unsubscribe = this.#bus.onTransition(({ transition }) => {
        if (transition.evaluationId === id && isTerminal(transition.to)) resolve();
      });
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      const current = await this.get(id);
      if (isTerminal(current.status) || timeoutMs <= 0) return current;
      await terminal;
      return await this.get(id);
    } finally {
      unsubscribe();
      clearTimeout(timer);
    }
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.#store.list(query);
  }

  /** Every recorded status change of one evaluation, oldest first. */
  async transitionsOf(id: string): Promise<Transition[]> {
    await this.get(id);
    return this.#store.transitionsOf(id);
  }

  /** The newest transition seq committed so far: where a follower that wants only what comes next starts. */
  latestTransitionSeq(): Promise<number> {
    return this.#store.latestTransitionSeq();
  }

  /** Every transition after `afterSeq`, from the store then live, in order and without gaps. */
  followTransitions(afterSeq: number, signal?: AbortSignal): AsyncGenerator<Transition> {
    return followTransitions(this.#store, this.#bus, afterSeq, signal, this.#maxBacklog);
  }

  /** An evaluation's log chunks; with `follow`, until it is terminal. */
  followLogs(id: string, options: Omit<LogFollowOptions, 'maxBacklog'>): AsyncGenerator<LogChunk> {
    return followLogs(this.#store, this.#bus, id, { ...options, maxBacklog: this.#maxBacklog });
  }

  /** Resolves when the store answers (readiness). */
  async ping(): Promise<void> {
    await this.#store.transitionsAfter(Number.MAX_SAFE_INTEGER, 1);
  }

  /**
   * Idempotent: a terminal evaluation is returned as it is. The decision is taken inside the serialized
   * transition section, so it sees a dispatch that is in progress and hands the kill to whoever can do it. A
   * run on another replica is killed by that replica when it sees the `cancelled` transition.
   */
  async cancel(id: string): Promise<Evaluation> {
    for (;;) {
      const decided = await this.#serially(async () => {
        const current = await this.#store.get(id);
        if (!current) throw new CrucibleError('not_found', `no evaluation with id "${id}"`, 'id');
        if (isTerminal(current.status)) return { evaluation: current, run: undefined };
        const active = this.#runs.get(id);
        const event: LifecycleEvent = {
          type: 'cancelled',
          at: this.#now(),
          output: active?.outputFlags ?? { stdoutTruncated: false, stderrTruncated: false },
        };
        if (active) active.cancelRequested = true;
        const saved = await this.#save(current, event);
        // Another replica moved it meanwhile (claimed it, or ended it): decide again on what it is now.
        if (!saved) return null;
        return { evaluation: saved, run: active };
      });
      if (!decided) continue;
      if (decided.run && !decided.run.launching) await this.#killCancelled(decided.run);
      return decided.evaluation;
    }
  }

  async queueStats(): Promise<QueueStats> {
    const counts = await this.#store.queueCounts();
    return {
      queued: counts.queued,
      running: counts.active,
      capacity: this.#globalConcurrency ?? this.#slots.capacity,
      replica: {
        id: this.#replica,
        running: this.#slots.used,
        slots: this.#slots.capacity,
        working: this.#working,
      },
    };
  }

  /** The clusters the runtime spreads runs over (`GET /v1/clusters`); empty on a one-cluster or local backend. */
  clusters(): ClusterInfo[] {
    return this.#runtime.clusters?.() ?? [];
  }

  /** Every transition this node sees, its own and (on a shared store) other replicas'. */
  #onTransition({ transition, evaluation }: TransitionEvent): void {
    // A queued evaluation to claim, or a slot freed somewhere under the global limit (without one, only a
    // slot freed here matters, and `#free` wakes the loop for that).
    const globalSlotFreed = this.#globalConcurrency !== undefined && isTerminal(transition.to);
    if (transition.to === 'queued' || globalSlotFreed) this.#claims.wake();
    const run = this.#runs.get(transition.evaluationId);
    // Another replica ended a run of ours (a cancel there, or our lease ran out): its sandbox must go.
    if (run && !evaluation && isTerminal(transition.to) && !run.cancelRequested) {
      run.cancelRequested = true;
      if (!run.launching) void this.#killCancelled(run);
    }
  }

  /** Claims up to `max` queued evaluations for this replica and launches them. */
  async #claim(max: number): Promise<number> {
    const claimed = await this.#serially(async () => {
      const projectHasRoom = this.#projectRuns.roomForClaim();
      const batch = await this.#store.claimQueued({
        owner: this.#replica,
        max,
        globalConcurrency: this.#globalConcurrency ?? Number.MAX_SAFE_INTEGER,
        agingMs: this.#agingMs,
        // Stamped inside the claiming transaction, after the global count: `dispatchedAt`..`storedAt` then
        // overlap exactly as the store counted them, so the limit can be checked from stored timestamps.
        dispatch: (queued) => {
          // Leave it queued while its project runs `maxConcurrent` here: waiting for the cluster's quota
          // would hold a slot that another project's evaluation could use.
          if (!projectHasRoom(queued)) return null;
          const at = this.#now();
          return applyEvent(queued, { type: 'dispatched', at, runtime: this.#runtime.name }, at);
        },
      });
      for (const { evaluation, transition } of batch) {
        this.#slots.occupy(evaluation.id);
        this.#projectRuns.held(evaluation);
        this.#newRun(evaluation, 0, { stdout: 0, stderr: 0 }, true);
        this.#publish({ transition, evaluation });
      }
      return batch;
    });
    for (const item of claimed) void this.#launch(item);
    return claimed.length;
  }

  async #launch({ evaluation }: Claimed): Promise<void> {
    const run = this.#runs.get(evaluation.id);
    if (!run) return;
    const observer = this.#observerFor(run);
    if (!run.cancelRequested) {
      await this.#runRequest(evaluation)
        .then((request) => this.#runtime.start(request, observer))
        .catch((error: unknown) =>
          observer.finished({
            kind: 'error',
            reason: 'sandbox_error',
            message: messageOf(error),
            at: this.#now(),
          }),
        );
    }
    run.launching = false;
    // A cancel that arrived while the runtime was launching found nothing to kill yet.
    if (run.cancelRequested) await this.#killCancelled(run);
  }

  /** Delivers a decided cancel to the runtime, then frees the slot: the sandbox is gone. */
  async #killCancelled(run: RunContext): Promise<void> {
    const id = run.evaluationId;
    try {
      await this.#runtime.cancel(id);
    } catch (error) {
      this.#log.error(`cancelling ${id} in the ${this.#runtime.name} runtime failed: ${messageOf(error)}`);
    }
    this.#free(run);
  }

  #free(run: RunContext): void {
    if (this.#runs.get(run.evaluationId) === run) this.#runs.delete(run.evaluationId);
    this.#projectRuns.released(run.evaluationId);
    if (this.#slots.release(run.evaluationId)) this.#claims.wake();
  }

  /** Takes over every orphan this replica can win (compare-and-set on the owner: one replica each). */
  #reapOrphans(): Promise<void> {
    this.#reaping ??= (async () => {
      try {
        for (const { evaluation, owner } of await this.#store.listOrphans()) {
          if (!this.#working || this.#runs.has(evaluation.id)) continue;
          if (await this.#store.transferOwnership(evaluation.id, owner, this.#replica)) {
            await this.#adopt(evaluation, owner);
          }
        }
      } catch (error) {
        this.#log.warn(`looking for orphaned evaluations failed: ${messageOf(error)}`);
      } finally {
        this.#reaping = null;
      }
    })();
    return this.#reaping;
  }

  async #adopt(evaluation: Evaluation, previousOwner: string | null): Promise<void> {
    this.#slots.occupy(evaluation.id);
    this.#projectRuns.held(evaluation);
    const chunks = await this.#store.readLogs(evaluation.id);
    const delivered = { stdout: 0, stderr: 0 };
    for (const chunk of chunks) delivered[chunk.stream] += chunk.data.length;
    const run = this.#newRun(evaluation, chunks.at(-1)?.seq ?? 0, delivered, false);
    const observer = this.#observerFor(run);
    const adopted = await this.#runRequest(evaluation)
      .then((request) => this.#runtime.adopt(request, observer, delivered))
      .catch((error: unknown) => {
        this.#log.error(`adopting ${evaluation.id} failed: ${messageOf(error)}`);
        return 'lost' as const;
      });
    const from = previousOwner === this.#replica || previousOwner === null ? '' : ` (from ${previousOwner})`;
    if (adopted === 'lost') {
      void observer.finished({
        kind: 'error',
        reason: 'lost_on_restart',
        message: 'the server running this evaluation stopped while it ran; it was not run again',
        at: this.#now(),
      });
    } else {
      this.#log.info(`re-adopted ${evaluation.id}${from} from the ${this.#runtime.name} runtime`);
    }
  }

  /** The project's evaluations that are not terminal yet. */
  async #activeOf(projectId: string): Promise<Evaluation[]> {
    const active = await this.#store.listByStatus(['queued', 'starting', 'running']);
    return active.filter((evaluation) => evaluation.project === projectId);
  }

  /** What the runtime gets, with the evaluation's project placement. */
  async #runRequest(evaluation: Evaluation) {
    return runRequestOf(evaluation, await this.#projectRuns.placement(evaluation));
  }

  #newRun(evaluation: Evaluation, lastLogSeq: number, kept: DeliveredBytes, launching: boolean): RunContext {
    const run = new RunContext(evaluation.id, evaluation.limits.maxOutputBytes, lastLogSeq, kept, launching);
    this.#runs.set(evaluation.id, run);
    return run;
  }

  #observerFor(run: RunContext): RunObserver {
    return createRunObserver(run, {
      now: this.#now,
      persist: (what, task) => this.#persist(what, task),
      appendLogs: (chunks) => this.#store.appendLogs(chunks),
      publishLogs: (chunks) => this.#publishLogs(chunks),
      apply: (id, event) => this.#apply(id, event),
      overrideOutcome: (outcome) => (this.#stopping ? shutdownOutcome(this.#now()) : outcome),
      ended: (ended) => this.#free(ended),
      onError: (error) => this.#log.error(`evaluation ${run.evaluationId}: ${messageOf(error)}`),
    });
  }

  #publish(event: TransitionEvent): void {
    if (this.#feed) this.#feed.committed(event);
    else this.#bus.publishTransition(event);
  }

  #publishLogs(chunks: readonly LogChunk[]): void {
    if (this.#feed) this.#feed.committedLogs(chunks);
    else for (const chunk of chunks) this.#bus.publishLog(chunk);
  }

  #persist<T>(what: string, task: () => Promise<T>): Promise<T> {
    return persistently(
      task,
      this.#retry,
      (error, attempt) =>
        this.#log.warn(`${what} failed (attempt ${attempt}); retrying: ${messageOf(error)}`),
      (attempt) => this.#stopping && attempt >= ATTEMPTS_WHILE_STOPPING,
    );
  }

  /**
   * Applies an event through the state machine and persists it; null when it changed nothing. `onApplied`
   * runs inside the serialized section, so whatever it records is seen by the next serialized step.
   */
  #apply(
    id: string,
    event: LifecycleEvent,
    onApplied?: (evaluation: Evaluation) => void,
  ): Promise<Evaluation | null> {
    return this.#serially(async () => {
      const current = await this.#store.get(id);
      if (!current) return null;
      const saved = await this.#save(current, event);
      if (saved) onApplied?.(saved);
      return saved;
    });
  }

  /** Runs inside `#serially`: state machine, compare-and-set write, then publish. */
  async #save(current: Evaluation, event: LifecycleEvent): Promise<Evaluation | null> {
    const next = applyEvent(current, event, this.#now());
    if (!next) return null;
    const transition = await this.#store.saveTransition(next);
    if (!transition) return null;
    this.#publish({ transition, evaluation: next.evaluation });
    return next.evaluation;
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#transitions.then(task);
    this.#transitions = result.catch(() => undefined);
    return result;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
