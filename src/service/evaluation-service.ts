import { randomUUID } from 'node:crypto';
import {
  CrucibleError,
  applyEvent,
  findLanguage,
  isActive,
  isTerminal,
  type Evaluation,
  type LifecycleEvent,
  type Limits,
  type RunOutcome,
  type Submission,
} from '../core/index.js';
import type { EventBus } from '../events/index.js';
import type { DeliveredBytes, RunObserver, RunRequest, Runtime } from '../runtime/runtime.js';
import { Scheduler, type QueueEntry, type QueueStats } from '../scheduler/index.js';
import type { EvaluationStore, ListPage, ListQuery } from '../store/store.js';
import { RunContext } from './run-context.js';

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
}

export interface EvaluationWithOutput {
  readonly evaluation: Evaluation;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The application layer: every way in (HTTP, CLI) goes through here, and only here are the store, the
 * scheduler, the runtime and the state machine put together.
 */
export class EvaluationService {
  readonly store: EvaluationStore;
  readonly bus: EventBus;
  readonly #runtime: Runtime;
  readonly #scheduler: Scheduler;
  readonly #defaults: Limits;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #newId: () => string;
  readonly #runs = new Map<string, RunContext>();
  /** Transitions are written and published one at a time, so SSE sees them in `seq` order. */
  #transitions: Promise<unknown> = Promise.resolve();
  #stopping = false;

  constructor(options: EvaluationServiceOptions) {
    this.store = options.store;
    this.bus = options.bus;
    this.#runtime = options.runtime;
    this.#defaults = options.defaultLimits;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
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
    for (const evaluation of await this.store.listByStatus(['queued'])) {
      this.#scheduler.enqueue(queueEntryOf(evaluation));
    }
    for (const evaluation of await this.store.listByStatus(['starting', 'running'])) {
      this.#scheduler.occupy(evaluation.id);
      const chunks = await this.store.readLogs(evaluation.id);
      const delivered = { stdout: 0, stderr: 0 };
      for (const chunk of chunks) delivered[chunk.stream] += chunk.data.length;
      const context = this.#newRun(evaluation, chunks.at(-1)?.seq ?? 0, delivered);
      const observer = this.#observerFor(context);
      const adopted = await this.#runtime
        .adopt(runRequestOf(evaluation), observer, delivered)
        .catch((error: unknown) => {
          this.#log.error(`adopting ${evaluation.id} failed: ${String(error)}`);
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

  async submit(submission: Submission): Promise<Evaluation> {
    const language = findLanguage(submission.language);
    if (!language) {
      throw new CrucibleError('unknown_language', `unknown language "${submission.language}"`, 'language');
    }
    const now = this.#now().toISOString();
    const evaluation: Evaluation = {
      id: this.#newId(),
      status: 'queued',
      language: language.id,
      code: submission.code,
      stdin: submission.stdin ?? '',
      priority: submission.priority ?? 'normal',
      labels: submission.labels ?? {},
      limits: {
        ...this.#defaults,
        timeoutSeconds: submission.timeoutSeconds ?? this.#defaults.timeoutSeconds,
        memoryMb: submission.memoryMb ?? this.#defaults.memoryMb,
      },
      runtime: this.#runtime.name,
      createdAt: now,
      timings: { submittedAt: now, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
      result: null,
    };
    await this.#serially(async () => {
      const transition = await this.store.create(evaluation);
      this.bus.publishTransition({ transition, evaluation });
    });
    this.#scheduler.enqueue(queueEntryOf(evaluation));
    return evaluation;
  }

  async get(id: string): Promise<Evaluation> {
    const evaluation = await this.store.get(id);
    if (!evaluation) throw new CrucibleError('not_found', `no evaluation with id "${id}"`, 'id');
    return evaluation;
  }

  async withOutput(evaluation: Evaluation): Promise<EvaluationWithOutput> {
    const chunks = await this.store.readLogs(evaluation.id);
    const join = (stream: 'stdout' | 'stderr') =>
      Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString('utf8');
    return { evaluation, stdout: join('stdout'), stderr: join('stderr') };
  }

  /** Resolves with the evaluation once it is terminal, or as it is after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<Evaluation> {
    let unsubscribe = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const terminal = new Promise<void>((resolve) => {
      unsubscribe = this.bus.onTransition(({ transition }) => {
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
    return this.store.list(query);
  }

  /** Idempotent: a terminal evaluation is returned as it is. */
  async cancel(id: string): Promise<Evaluation> {
    const evaluation = await this.get(id);
    if (isTerminal(evaluation.status)) return evaluation;
    this.#scheduler.remove(id);
    const run = this.#runs.get(id);
    if (run) run.cancelRequested = true;
    const applied = await this.#apply(id, {
      type: 'cancelled',
      at: this.#now(),
      output: run?.outputFlags ?? { stdoutTruncated: false, stderrTruncated: false },
    });
    if (run || isActive(evaluation.status)) await this.#runtime.cancel(id);
    return applied ?? (await this.get(id));
  }

  queueStats(): QueueStats {
    return this.#scheduler.stats();
  }

  async #dispatch(entry: QueueEntry): Promise<void> {
    try {
      const dispatched = await this.#apply(entry.id, {
        type: 'dispatched',
        at: this.#now(),
        runtime: this.#runtime.name,
      });
      if (!dispatched) {
        this.#scheduler.release(entry.id);
        return;
      }
      const run = this.#newRun(dispatched, 0, { stdout: 0, stderr: 0 });
      const observer = this.#observerFor(run);
      await this.#runtime.start(runRequestOf(dispatched), observer).catch((error: unknown) => {
        observer.finished({
          kind: 'error',
          reason: 'sandbox_error',
          message: messageOf(error),
          at: this.#now(),
        });
      });
      // A cancel that arrived while the runtime was launching found nothing to kill yet.
      if (run.cancelRequested) await this.#runtime.cancel(entry.id);
    } catch (error) {
      this.#log.error(`dispatching ${entry.id} failed: ${messageOf(error)}`);
      this.#scheduler.release(entry.id);
    }
  }

  #newRun(evaluation: Evaluation, lastLogSeq: number, kept: DeliveredBytes): RunContext {
    const run = new RunContext(evaluation.id, evaluation.limits.maxOutputBytes, lastLogSeq, kept);
    this.#runs.set(evaluation.id, run);
    return run;
  }

  #observerFor(run: RunContext): RunObserver {
    const id = run.evaluationId;
    const onError = (error: unknown) => this.#log.error(`evaluation ${id}: ${messageOf(error)}`);
    const flush = async () => {
      const chunks = run.takePending();
      if (chunks.length === 0) return;
      await this.store.appendLogs(chunks);
      for (const chunk of chunks) this.bus.publishLog(chunk);
    };
    return {
      started: (at) =>
        void run.enqueue(async () => void (await this.#apply(id, { type: 'started', at })), onError),
      output: (stream, data) => {
        if (run.acceptOutput(stream, data, this.#now())) void run.enqueue(flush, onError);
      },
      finished: (outcome: RunOutcome) =>
        run.enqueue(async () => {
          await flush();
          const ended: RunOutcome = this.#stopping
            ? {
                kind: 'error',
                reason: 'infrastructure',
                message: 'the server shut down while this evaluation ran; it was stopped and not run again',
                at: this.#now(),
              }
            : outcome;
          await this.#apply(id, { type: 'finished', outcome: ended, output: run.outputFlags });
          this.#runs.delete(id);
          this.#scheduler.release(id);
        }, onError),
    };
  }

  /** Applies an event through the state machine and persists it; null when it changed nothing. */
  #apply(id: string, event: LifecycleEvent): Promise<Evaluation | null> {
    return this.#serially(async () => {
      const current = await this.store.get(id);
      if (!current) return null;
      const next = applyEvent(current, event, this.#now());
      if (!next) return null;
      const transition = await this.store.saveTransition(next);
      if (!transition) return null;
      this.bus.publishTransition({ transition, evaluation: next.evaluation });
      if (isTerminal(next.to)) this.#scheduler.release(id);
      return next.evaluation;
    });
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#transitions.then(task);
    this.#transitions = result.catch(() => undefined);
    return result;
  }
}

function queueEntryOf(evaluation: Evaluation): QueueEntry {
  return { id: evaluation.id, priority: evaluation.priority, enqueuedAt: Date.parse(evaluation.createdAt) };
}

function runRequestOf(evaluation: Evaluation): RunRequest {
  return {
    evaluationId: evaluation.id,
    language: evaluation.language,
    code: evaluation.code,
    stdin: evaluation.stdin,
    limits: evaluation.limits,
    priority: evaluation.priority,
    labels: evaluation.labels,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
