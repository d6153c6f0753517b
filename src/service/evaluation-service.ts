import { RetentionService } from './retention.js';
import type { StorageGuard } from './storage-guard.js';
import { EvaluationArtifacts } from './artifacts.js';
import { readSpilledLogs } from './log-spill.js';
import { randomUUID } from 'node:crypto';
import {
  CrucibleError,
  findLanguage,
  isTerminal,
  type Evaluation,
  type LifecycleEvent,
  type Limits,
  type LogChunk,
  type Submission,
  type Transition,
} from '../core/index.js';
import type { EventBus, StoreEventFeed } from '../events/index.js';
import type { ClusterInfo, Runtime } from '../runtime/runtime.js';
import {
  IdempotencyKeyTaken,
  type EvaluationStore,
  type IdempotencyKey,
  type IdempotentSubmission,
  type ListPage,
  type ListQuery,
} from '../store/store.js';
import { SYSTEM_CALLER, canSee, evaluationNotFound, requireAdmin, type Caller } from './caller.js';
import { BatchService } from './batches.js';
import { assertSameSubmission, fingerprintOf, submitterOf, type SubmitOptions } from './idempotency.js';
import { newEvaluation } from './evaluation-mapping.js';
import { checkRunnable, listLanguages } from './language-checks.js';
import type { LanguageInfo } from '../core/index.js';
import { DEFAULT_STORE_RETRY } from './persist.js';
import { ProjectRuns } from './project-runs.js';
import { ProjectService } from './projects.js';
import { UsageService } from './usage.js';
import { DEFAULT_LEASE_MS, ReplicaLease } from './replica-lease.js';
import { DEFAULT_MAX_BACKLOG, followLogs, followTransitions, type LogFollowOptions } from './streams.js';
import { watchTerminals } from './terminal-watch.js';
import { TokenService } from './tokens.js';
import { UserQuotas } from './quotas.js';
import { TransitionWriter, messageOf } from './transition-writer.js';
import { EvaluationUsers } from './visibility.js';
import { ServiceWebhooks } from './webhooks.js';
import { Worker } from './worker.js';
import type { DeliveryLog } from '../webhooks/index.js';

export type { Logger } from './transition-writer.js';
export type { Caller } from './caller.js';
export { SYSTEM_CALLER, anonymousCaller } from './caller.js';

export type {
  EvaluationMirror,
  EvaluationServiceOptions,
  EvaluationWithOutput,
  QueueStats,
  ReplicaStats,
  Submitted,
} from './service-types.js';
import type {
  EvaluationMirror,
  EvaluationServiceOptions,
  EvaluationWithOutput,
  QueueStats,
  Submitted,
} from './service-types.js';

export type { SubmitOptions } from './idempotency.js';

/**
 * The application layer: every way in (HTTP, CLI, the CRD controller) goes through here, and only here are
 * the store, the runtime and the state machine put together. Status changes go through one
 * `TransitionWriter`; running evaluations is the `Worker`'s (see there: claiming, slots, leases, orphans). A
 * replica that does not work (a follower under leader election) serves the API only.
 */
export class EvaluationService {
  /** Projects, when the store keeps them (both built-in stores do). */
  readonly projects: ProjectService | null;
  /** Usage reports (docs/usage.md), when the store sums usage (both built-in stores do). */
  readonly usage: UsageService | null;
  /** Evaluations' `/artifacts` files (docs/artifacts.md), when an object store is configured. */
  readonly artifacts: EvaluationArtifacts | null;
  /** Retention and `crucible prune` (docs/retention.md), when the store can delete (both built-in do). */
  readonly retention: RetentionService | null;
  /** Batches (docs/batches.md), when the store keeps them (both built-in stores do). */
  readonly batches: BatchService | null;
  /** Authentication and the token calls (docs/auth.md). */
  readonly tokens: TokenService;
  readonly #store: EvaluationStore;
  readonly #bus: EventBus;
  readonly #feed: StoreEventFeed | undefined;
  readonly #runtime: Runtime;
  readonly #replica: string;
  readonly #writer: TransitionWriter;
  readonly #worker: Worker;
  readonly #lease: ReplicaLease;
  readonly #globalConcurrency: number | undefined;
  readonly #defaults: Limits;
  readonly #now: () => Date;
  readonly #newId: () => string;
  readonly #maxBacklog: number;
  readonly #projectRuns: ProjectRuns;
  readonly #mirror: EvaluationMirror | undefined;
  readonly #webhooks: ServiceWebhooks;
  readonly #users: EvaluationUsers;
  readonly #quotas: UserQuotas;
  /** Disk pressure: refuses new work when the data disk is nearly full. */
  readonly storage: StorageGuard | undefined;
  #offBus: (() => void) | undefined;

  constructor(options: EvaluationServiceOptions) {
    this.#store = options.store;
    this.#bus = options.bus;
    this.#feed = options.feed;
    this.#runtime = options.runtime;
    this.#replica = options.replicaId;
    this.#defaults = options.defaultLimits;
    this.#now = options.now ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
    this.#maxBacklog = options.maxFollowerBacklog ?? DEFAULT_MAX_BACKLOG;
    this.#globalConcurrency = options.globalConcurrency;
    this.#mirror = options.mirror;
    this.#webhooks = new ServiceWebhooks(options.webhooks, options.bus);
    this.#users = new EvaluationUsers(options.store);
    this.#quotas = new UserQuotas(options.store.quotas, options.store.tokens, this.#now);
    this.tokens = new TokenService({
      store: options.store.tokens,
      adminToken: options.adminToken,
      now: this.#now,
    });
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    const log = options.log;
    this.#writer = new TransitionWriter({
      store: options.store,
      bus: options.bus,
      feed: options.feed,
      now: this.#now,
      retry: options.storeRetry ?? DEFAULT_STORE_RETRY,
      log,
    });
    this.#projectRuns = new ProjectRuns(options.store.projects);
    this.artifacts = options.objects
      ? new EvaluationArtifacts(options.objects, options.objectRetry, (message) => log.warn(message))
      : null;
    this.storage = options.storage;
    this.retention = options.store.retention
      ? new RetentionService({
          store: options.store.retention,
          ...(options.objects ? { objects: options.objects } : {}),
          ...(options.retentionMs !== undefined ? { retentionMs: options.retentionMs } : {}),
          ...(options.retentionRules ? { rules: options.retentionRules } : {}),
          log,
        })
      : null;
    this.#worker = new Worker({
      ...(this.artifacts ? { artifacts: this.artifacts } : {}),
      store: options.store,
      runtime: options.runtime,
      writer: this.#writer,
      projectRuns: this.#projectRuns,
      replicaId: options.replicaId,
      concurrency: options.concurrency,
      globalConcurrency: options.globalConcurrency,
      leaseMs,
      agingMs: options.agingMs,
      maxRunning: () => this.#quotas.maxRunning(),
      now: this.#now,
      log,
    });
    this.usage = options.store.usage ? new UsageService(options.store.usage, this.#now) : null;
    this.projects = options.store.projects
      ? new ProjectService({
          store: options.store.projects,
          runtime: options.runtime,
          evaluations: { activeOf: (id) => this.#activeOf(id), cancel: (id) => this.cancel(id) },
          now: this.#now,
        })
      : null;
    this.batches = options.store.batches
      ? new BatchService({
          store: options.store.batches,
          bus: options.bus,
          writer: this.#writer,
          projectRuns: this.#projectRuns,
          webhooks: this.#webhooks,
          defaults: this.#defaults,
          runtime: () => this.#runtime.name,
          now: this.#now,
          newId: this.#newId,
          wake: () => this.#worker.wake(),
          quotas: this.#quotas,
          ...(options.storage ? { storage: options.storage } : {}),
        })
      : null;
    this.#lease = new ReplicaLease(this.#store, this.#replica, leaseMs, (error) =>
      log.warn(`renewing the lease of replica ${this.#replica} failed: ${messageOf(error)}`),
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
    this.#offBus = this.#bus.onTransition((event) => this.#worker.onTransition(event));
    await this.#feed?.start();
    await this.#lease.start();
    this.#webhooks.start();
    if (options.work !== false) await this.startWork();
  }

  /**
   * Starts running evaluations: first the orphans (re-adopted, or ended as `error` / `lost_on_restart` when
   * the runtime cannot find them — nothing is ever run twice), then claiming queued ones.
   */
  async startWork(): Promise<void> {
    if (this.#writer.stopping) return;
    await this.#worker.start();
  }

  /**
   * Stops dispatching and closes the runtime. Runs a local runtime kills on close end as `error` /
   * `infrastructure` ("the server shut down"), not as the program's own failure; runtimes that keep running
   * without us (Kubernetes Jobs) report nothing and are re-adopted by the next replica that works.
   */
  async stop(): Promise<void> {
    this.#writer.stopping = true;
    // First: runs the runtime ends on close are enqueued, not begun and cut a moment later (the next start,
    // or another replica, delivers them).
    await this.#webhooks.stop();
    await this.#worker.stop();
    await this.#writer.idle();
    this.#offBus?.();
    await this.#feed?.stop();
    await this.#lease.stop();
  }

  async submit(submission: Submission, options: SubmitOptions = {}): Promise<Submitted> {
    const language = findLanguage(submission.language);
    if (!language) {
      throw new CrucibleError('unknown_language', `unknown language "${submission.language}"`, 'language');
    }
    checkRunnable(submission, language, this.#runtime.languages);
    await this.storage?.admit();
    if (options.mirrorTo !== undefined && !this.#mirror) {
      throw new CrucibleError(
        'invalid_request',
        'mirror needs the Evaluation custom resource: start the server with --crd',
        'mirror',
      );
    }
    if (options.mirrorTo !== undefined && !this.#mirror?.watches(options.mirrorTo)) {
      throw new CrucibleError(
        'invalid_request',
        `mirror: Evaluation objects in namespace "${options.mirrorTo}" are not reconciled here (see --crd-namespaces)`,
        'mirror',
      );
    }
    await this.#projectRuns.check(submission, this.#defaults.memoryMb);
    await this.#webhooks.check(submission);
    const caller = submitterOf(options.caller);
    const key: IdempotencyKey | undefined =
      options.idempotencyKey === undefined
        ? undefined
        : {
            scope: caller.scope,
            key: options.idempotencyKey,
            fingerprint: fingerprintOf(submission),
          };
    const evaluation = newEvaluation(submission, {
      id: this.#newId(),
      language: language.id,
      now: this.#now(),
      defaults: this.#defaults,
      runtime: this.#runtime.name,
      user: caller.user,
    });
    this.#users.remember(evaluation.id, caller.user);
    let earlier: IdempotentSubmission | null;
    try {
      earlier = await this.#writer.serially(async () => {
        const found = key ? await this.#store.findIdempotent(key.scope, key.key) : null;
        if (found) return found;
        await this.#quotas.admit(caller.user, caller.token, 1);
        await this.#webhooks.register(evaluation, submission);
        const transition = await this.#store.create(evaluation, key);
        this.#writer.publish({ transition, evaluation });
        return null;
      }, evaluation.id);
    } catch (error) {
      // Another replica recorded the key between our look-up and our insert.
      if (!(error instanceof IdempotencyKeyTaken) || !key) throw error;
      earlier = await this.#store.findIdempotent(key.scope, key.key);
      if (!earlier) throw error;
    }
    if (earlier && key) {
      assertSameSubmission(earlier, key);
      const first = await this.get(earlier.evaluationId, caller);
      // A retried submission whose mirroring failed the first time gets it now (mirroring is idempotent).
      await this.#mirrored(first, submission, options.mirrorTo);
      return { evaluation: first, replayed: true };
    }
    this.#worker.wake();
    await this.#mirrored(evaluation, submission, options.mirrorTo);
    return { evaluation, replayed: false };
  }

  /** The evaluation, if the caller may see it: another user's answers `not_found`, as a missing one does. */
  async get(id: string, caller: Caller = SYSTEM_CALLER): Promise<Evaluation> {
    const evaluation = await this.#store.get(id);
    if (!evaluation || !canSee(caller, evaluation)) throw evaluationNotFound(id);
    return evaluation;
  }

  async withOutput(evaluation: Evaluation): Promise<EvaluationWithOutput> {
    const chunks = await this.#store.readLogs(evaluation.id);
    const join = (stream: 'stdout' | 'stderr') =>
      Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString('utf8');
    return { evaluation, stdout: join('stdout'), stderr: join('stderr') };
  }

  /**
   * The evaluation once it is terminal, or as it is after `timeoutMs`, or as soon as `signal` aborts (the client
   * went away: nothing is left listening for it).
   */
  async wait(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
    caller: Caller = SYSTEM_CALLER,
  ): Promise<Evaluation> {
    const watch = watchTerminals(this.#bus, timeoutMs, signal, (ended) => ended === id);
    try {
      const current = await this.get(id, caller);
      if (isTerminal(current.status) || timeoutMs <= 0 || signal?.aborted) return current;
      await watch.over;
      return await this.get(id, caller);
    } finally {
      watch.dispose();
    }
  }

  /** Newest first. A user lists their own; only admins filter by another `user`. */
  list(query: ListQuery, caller: Caller = SYSTEM_CALLER): Promise<ListPage> {
    if (caller.admin) return this.#store.list(query);
    if (query.user !== undefined && query.user !== caller.user) {
      requireAdmin(caller, "listing another user's evaluations");
    }
    return this.#store.list({ ...query, user: caller.user ?? '' });
  }

  /** The evaluation's webhook delivery and its attempts; null when it has none (yet). */
  async deliveries(id: string, caller: Caller = SYSTEM_CALLER): Promise<DeliveryLog | null> {
    await this.get(id, caller);
    return this.#webhooks.log(id);
  }

  /** Every recorded status change of one evaluation, oldest first. */
  async transitionsOf(id: string, caller: Caller = SYSTEM_CALLER): Promise<Transition[]> {
    await this.get(id, caller);
    return this.#store.transitionsOf(id);
  }

  /** The newest transition seq committed so far: where a follower that wants only what comes next starts. */
  latestTransitionSeq(): Promise<number> {
    return this.#store.latestTransitionSeq();
  }

  /**
   * Every transition after `afterSeq`, from the store then live, in order and without gaps — of the caller's
   * evaluations only (admins: all). Seqs stay global, so `Last-Event-ID` resumes the same way.
   */
  followTransitions(
    afterSeq: number,
    signal?: AbortSignal,
    caller: Caller = SYSTEM_CALLER,
  ): AsyncGenerator<Transition> {
    const all = followTransitions(this.#store, this.#bus, afterSeq, signal, this.#maxBacklog);
    return caller.admin ? all : this.#visibleOnly(all, caller);
  }

  /**
   * An evaluation's log chunks; with `follow`, until it is terminal. Another user's: `not_found`. Output past
   * the inline cap (`result.logSpill`) follows the stored chunks, numbered after them, once the run has ended.
   */
  async *followLogs(
    id: string,
    options: Omit<LogFollowOptions, 'maxBacklog'>,
    caller: Caller = SYSTEM_CALLER,
  ): AsyncGenerator<LogChunk> {
    await this.get(id, caller);
    yield* followLogs(this.#store, this.#bus, id, { ...options, maxBacklog: this.#maxBacklog });
    const ended = await this.#store.get(id);
    if (!ended?.result?.logSpill || !this.artifacts || options.signal?.aborted) return;
    yield* readSpilledLogs(this.artifacts.objects, ended, options.afterSeq ?? 0, options.stream);
  }

  async *#visibleOnly(transitions: AsyncGenerator<Transition>, caller: Caller): AsyncGenerator<Transition> {
    for await (const transition of transitions) {
      if (await this.#users.visible(caller, transition.evaluationId)) yield transition;
    }
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
  async cancel(id: string, caller: Caller = SYSTEM_CALLER): Promise<Evaluation> {
    for (;;) {
      const decided = await this.#writer.serially(async () => {
        const current = await this.#store.get(id);
        if (!current || !canSee(caller, current)) throw evaluationNotFound(id);
        if (isTerminal(current.status)) return { evaluation: current, run: undefined };
        const active = this.#worker.runOf(id);
        const event: LifecycleEvent = {
          type: 'cancelled',
          at: this.#now(),
          output: active?.outputFlags ?? { stdoutTruncated: false, stderrTruncated: false },
        };
        if (active) active.cancelRequested = true;
        const saved = await this.#writer.save(current, event);
        // Another replica moved it meanwhile (claimed it, or ended it): decide again on what it is now.
        if (!saved) return null;
        return { evaluation: saved, run: active };
      }, id);
      if (!decided) continue;
      if (decided.run && !decided.run.launching) await this.#worker.killCancelled(decided.run);
      return decided.evaluation;
    }
  }

  async queueStats(): Promise<QueueStats> {
    const counts = await this.#store.queueCounts();
    return {
      queued: counts.queued,
      running: counts.active,
      awaitingAdmission: counts.awaitingAdmission,
      capacity: this.#globalConcurrency ?? this.#worker.slots.capacity,
      replica: {
        id: this.#replica,
        running: this.#worker.slots.used,
        slots: this.#worker.slots.capacity,
        working: this.#worker.working,
      },
    };
  }

  /** The clusters the runtime spreads runs over (`GET /v1/clusters`); empty on a one-cluster or local backend. */
  /** The languages this server's runtime can run, with their versions (`GET /v1/languages`). */
  languages(): Promise<LanguageInfo[]> {
    return listLanguages(this.#runtime.languages);
  }

  clusters(): ClusterInfo[] {
    return this.#runtime.clusters?.() ?? [];
  }

  /**
   * The evaluation exists and will run whatever happens here; a mirror that cannot be written answers
   * `not_ready`, and the client's retry (same Idempotency-Key) writes it then.
   */
  async #mirrored(evaluation: Evaluation, submission: Submission, namespace: string | undefined) {
    if (namespace === undefined || !this.#mirror) return;
    try {
      await this.#mirror.mirror(evaluation, submission, namespace);
    } catch (error) {
      throw new CrucibleError(
        'not_ready',
        `evaluation ${evaluation.id} was accepted, but its Evaluation object in ${namespace} could not be written ` +
          `(${messageOf(error)}); retry with the same Idempotency-Key`,
        'mirror',
      );
    }
  }

  /** The project's evaluations that are not terminal yet. */
  async #activeOf(projectId: string): Promise<Evaluation[]> {
    const active = await this.#store.listByStatus(['queued', 'starting', 'running']);
    return active.filter((evaluation) => evaluation.project === projectId);
  }
}
