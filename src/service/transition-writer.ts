import {
  applyEvent,
  type Evaluation,
  type LifecycleEvent,
  type LogChunk,
  type Transition,
} from '../core/index.js';
import type { EventBus, StoreEventFeed, TransitionEvent } from '../events/index.js';
import type { EvaluationStore } from '../store/store.js';
import { persistently, type RetryPolicy } from './persist.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface TransitionWriterOptions {
  readonly store: EvaluationStore;
  readonly bus: EventBus;
  /** On a shared store: this replica's writes are published through it, in seq order with everyone's. */
  readonly feed: StoreEventFeed | undefined;
  readonly now: () => Date;
  readonly retry: RetryPolicy;
  readonly log: Logger;
}

/** The key of writes that may touch any evaluation (evaluation ids are UUIDs: never this). */
const ANY_EVALUATION = '*';

/** Attempts a run write gets once the server is stopping, before it gives up (the store may be gone). */
const ATTEMPTS_WHILE_STOPPING = 3;

/**
 * The one way this replica changes an evaluation's status: state machine, compare-and-set write, publish —
 * one at a time (`serially`), so the bus sees this replica's transitions in `seq` order, and a decision taken
 * inside the section (a cancel, a claim) sees every write before it.
 */
export class TransitionWriter {
  readonly #store: EvaluationStore;
  readonly #bus: EventBus;
  readonly #feed: StoreEventFeed | undefined;
  readonly #now: () => Date;
  readonly #retry: RetryPolicy;
  readonly #log: Logger;
  #chain: Promise<unknown> = Promise.resolve();
  /**
   * The last write queued per evaluation (under ANY_EVALUATION, writes that may touch any, like claims), until
   * it ends: what the store feed waits for before it takes a transition it read for another replica's.
   */
  readonly #inFlight = new Map<string, Promise<unknown>>();
  /** Once set, run writes stop retrying after a few attempts: the store may be gone for good. */
  stopping = false;

  constructor(options: TransitionWriterOptions) {
    this.#store = options.store;
    this.#bus = options.bus;
    this.#feed = options.feed;
    this.#now = options.now;
    this.#retry = options.retry;
    this.#log = options.log;
    this.#feed?.awaitLocalWrites((transition) => this.writesEnded(transition));
  }

  /** Resolves once every write queued so far has ended. */
  idle(): Promise<unknown> {
    return this.#chain;
  }

  /**
   * Runs `task` after every write queued before it; `evaluationId` names what it writes, when one does (a
   * batch names all its evaluations).
   */
  serially<T>(task: () => Promise<T>, evaluationId: string | readonly string[] = ANY_EVALUATION): Promise<T> {
    const result = this.#chain.then(task);
    const ended = result.catch(() => undefined);
    this.#chain = ended;
    const ids = typeof evaluationId === 'string' ? [evaluationId] : evaluationId;
    for (const id of ids) this.#inFlight.set(id, ended);
    void ended.then(() => {
      for (const id of ids) if (this.#inFlight.get(id) === ended) this.#inFlight.delete(id);
    });
    return result;
  }

  /**
   * Resolves once every write queued so far that may have written this transition has ended: its
   * evaluation's, and claims when it leaves `queued` (claims write nothing else). Not the whole chain, whose
   * tail under load can be many writes for other evaluations.
   */
  writesEnded(transition: Transition): Promise<unknown> {
    const own = this.#inFlight.get(transition.evaluationId);
    const any = transition.from === 'queued' ? this.#inFlight.get(ANY_EVALUATION) : undefined;
    if (!own) return any ?? Promise.resolve();
    return any ? Promise.all([own, any]) : own;
  }

  /**
   * Applies an event through the state machine and persists it; null when it changed nothing. `onApplied`
   * runs inside the serialized section, so whatever it records is seen by the next serialized step.
   */
  apply(
    id: string,
    event: LifecycleEvent,
    onApplied?: (evaluation: Evaluation) => void,
  ): Promise<Evaluation | null> {
    return this.serially(async () => {
      const current = await this.#store.get(id);
      if (!current) return null;
      const saved = await this.save(current, event);
      if (saved) onApplied?.(saved);
      return saved;
    }, id);
  }

  /** Runs inside `serially`: state machine, compare-and-set write, then publish. */
  async save(current: Evaluation, event: LifecycleEvent): Promise<Evaluation | null> {
    const next = applyEvent(current, event, this.#now());
    if (!next) return null;
    const transition = await this.#store.saveTransition(next);
    if (!transition) return null;
    this.publish({ transition, evaluation: next.evaluation });
    return next.evaluation;
  }

  publish(event: TransitionEvent): void {
    if (this.#feed) this.#feed.committed(event);
    else this.#bus.publishTransition(event);
  }

  publishLogs(chunks: readonly LogChunk[]): void {
    if (this.#feed) this.#feed.committedLogs(chunks);
    else for (const chunk of chunks) this.#bus.publishLog(chunk);
  }

  /** A run write, retried while the store fails (a few attempts only once stopping). */
  persist<T>(what: string, task: () => Promise<T>): Promise<T> {
    return persistently(
      task,
      this.#retry,
      (error, attempt) =>
        this.#log.warn(`${what} failed (attempt ${attempt}); retrying: ${messageOf(error)}`),
      (attempt) => this.stopping && attempt >= ATTEMPTS_WHILE_STOPPING,
    );
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
