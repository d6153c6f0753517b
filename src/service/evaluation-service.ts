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
  type Submission,
  type Transition,
} from '../core/index.js';
import type { EventBus } from '../events/index.js';
import type { DeliveredBytes, RunObserver, Runtime } from '../runtime/runtime.js';
import { Scheduler, type QueueEntry, type QueueStats } from '../scheduler/index.js';
import {
  IdempotencyKeyTaken,
  type EvaluationStore,
  type IdempotencyKey,
  type IdempotentSubmission,
  type ListPage,
  type ListQuery,
} from '../store/store.js';
import { assertSameSubmission, fingerprintOf, type SubmitOptions } from './idempotency.js';
import { newEvaluation, queueEntryOf, runRequestOf, shutdownOutcome } from './evaluation-mapping.js';
import { DEFAULT_STORE_RETRY, persistently, type RetryPolicy } from './persist.js';
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
  readonly concurrency: number;
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

export type { SubmitOptions } from './idempotency.js';

/** Attempts a run write gets once the server is stopping, before it gives up (the store may be gone). */
const ATTEMPTS_WHILE_STOPPING = 3;

/**
 * The application layer: every way in (HTTP, CLI) goes through here, and only here are the store, the
 * scheduler, the runtime and the state machine put together.
 *
 * Slots: a scheduler slot is held from dispatch until the sandbox is gone — the run's `finished` was
 * persisted, or a cancel was delivered to the runtime after its launch returned — never merely until the
 * status turned terminal, so a cancelled program still being killed keeps counting against the limit.
 */
export class EvaluationService {
  readonly #store: EvaluationStore;
  readonly #bus: EventBus;
  readonly #runtime: Runtime;
  readonly #scheduler: Scheduler;
  readonly #defaults: Limits;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #newId: () => string;
  readonly #retry: RetryPolicy;
  readonly #maxBacklog: number;
  readonly #runs = new Map<string, RunContext>();
  /** Transitions are written and published one at a time, so SSE sees them in `seq` order. */
  #transitions: Promise<unknown> = Promise.resolve();
  #stopping = false;

  constructor(options: EvaluationServiceOptions) {
    this.#store = options.store;
    this.#bus = options.bus;
    this.#runtime = options.runtime;
    this.#defaults = options.defaultLimits;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
    this.#retry = options.storeRetry ?? DEFAULT_STORE_RETRY;
    this.#maxBacklog = options.maxFollowerBacklog ?? DEFAULT_MAX_BACKLOG;
    this.#scheduler = new Scheduler({
      concurrency: options.concurrency,
      agingMs: options.agingMs,
      dispatch: (entry) => void this.#dispatch(entry),
    });
  }

  get runtimeName(): string {
    return this.#runtime.name;
  }

  /**
   * Recovers after a restart, then starts dispatching: queued evaluations are queued again; evaluations that
   * were starting or running are re-adopted by the runtime, or ended as `error` / `lost_on_restart` when the
   * runtime cannot find them (a local sandbox dies with its server). Nothing is ever run twice.
   */
  async start(): Promise<void> {
    for (const evaluation of await this.#store.listByStatus(['queued'])) {
      this.#scheduler.enqueue(queueEntryOf(evaluation));
    }
    for (const evaluation of await this.#store.listByStatus(['starting', 'running'])) {
      await this.#adopt(evaluation);
    }
    this.#scheduler.start();
  }

  /**
   * Stops dispatching and closes the runtime. Runs a local runtime kills on close end as `error` /
   * `infrastructure` ("the server shut down"), not as the program's own failure; runtimes that keep running
   * without us (Kubernetes Jobs) report nothing and are re-adopted at the next start.
   */
  async stop(): Promise<void> {
    this.#scheduler.stop();
    this.#stopping = true;
    await this.#runtime.close();
    await Promise.all([...this.#runs.values()].map((run) => run.idle()));
    await this.#transitions;
  }

  async submit(submission: Submission, options: SubmitOptions = {}): Promise<Submitted> {
    const language = findLanguage(submission.language);
    if (!language) {
      throw new CrucibleError('unknown_language', `unknown language "${submission.language}"`, 'language');
    }
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
        this.#bus.publishTransition({ transition, evaluation });
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
    this.#scheduler.enqueue(queueEntryOf(evaluation));
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
   * transition section, so it sees a dispatch that is in progress and hands the kill to whoever can do it.
   */
  async cancel(id: string): Promise<Evaluation> {
    this.#scheduler.remove(id);
    const { evaluation, run } = await this.#serially(async () => {
      const current = await this.#store.get(id);
      if (!current) throw new CrucibleError('not_found', `no evaluation with id "${id}"`, 'id');
      if (isTerminal(current.status)) return { evaluation: current, run: undefined };
      const active = this.#runs.get(id);
      if (active) active.cancelRequested = true;
      const event: LifecycleEvent = {
        type: 'cancelled',
        at: this.#now(),
        output: active?.outputFlags ?? { stdoutTruncated: false, stderrTruncated: false },
      };
      const saved = await this.#save(current, event);
      // Queued (or popped by the scheduler but not yet dispatched): no sandbox, so the slot is free now.
      if (!active) this.#scheduler.release(id);
      return { evaluation: saved ?? current, run: active };
    });
    if (run && !run.launching) await this.#killCancelled(run);
    return evaluation;
  }

  queueStats(): QueueStats {
    return this.#scheduler.stats();
  }

  async #dispatch(entry: QueueEntry): Promise<void> {
    const launch: { run?: RunContext } = {};
    let dispatched: Evaluation | null = null;
    try {
      dispatched = await this.#persist(`dispatching ${entry.id}`, () =>
        this.#apply(entry.id, { type: 'dispatched', at: this.#now(), runtime: this.#runtime.name }, (e) => {
          launch.run = this.#newRun(e, 0, { stdout: 0, stderr: 0 }, true);
        }),
      );
    } catch (error) {
      this.#log.error(`dispatching ${entry.id} failed: ${messageOf(error)}`);
    }
    const { run } = launch;
    if (!dispatched || !run) {
      this.#scheduler.release(entry.id);
      return;
    }
    const observer = this.#observerFor(run);
    if (!run.cancelRequested) {
      await this.#runtime.start(runRequestOf(dispatched), observer).catch((error: unknown) =>
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
    if (this.#runs.get(id) === run) this.#runs.delete(id);
    this.#scheduler.release(id);
  }

  async #adopt(evaluation: Evaluation): Promise<void> {
    this.#scheduler.occupy(evaluation.id);
    const chunks = await this.#store.readLogs(evaluation.id);
    const delivered = { stdout: 0, stderr: 0 };
    for (const chunk of chunks) delivered[chunk.stream] += chunk.data.length;
    const run = this.#newRun(evaluation, chunks.at(-1)?.seq ?? 0, delivered, false);
    const observer = this.#observerFor(run);
    const adopted = await this.#runtime
      .adopt(runRequestOf(evaluation), observer, delivered)
      .catch((error: unknown) => {
        this.#log.error(`adopting ${evaluation.id} failed: ${messageOf(error)}`);
        return 'lost' as const;
      });
    if (adopted === 'lost') {
      void observer.finished({
        kind: 'error',
        reason: 'lost_on_restart',
        message: 'the server restarted while this evaluation was running; it was not run again',
        at: this.#now(),
      });
    } else {
      this.#log.info(`re-adopted ${evaluation.id} from the ${this.#runtime.name} runtime`);
    }
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
      publishLog: (chunk) => this.#bus.publishLog(chunk),
      apply: (id, event) => this.#apply(id, event),
      overrideOutcome: (outcome) => (this.#stopping ? shutdownOutcome(this.#now()) : outcome),
      ended: (ended) => {
        if (this.#runs.get(ended.evaluationId) === ended) this.#runs.delete(ended.evaluationId);
        this.#scheduler.release(ended.evaluationId);
      },
      onError: (error) => this.#log.error(`evaluation ${run.evaluationId}: ${messageOf(error)}`),
    });
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
    this.#bus.publishTransition({ transition, evaluation: next.evaluation });
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
