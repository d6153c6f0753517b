import { SerialRerun, isTerminal, type Evaluation, type LogChunk } from '../core/index.js';
import type { EvaluationStore, StoreChange } from '../store/store.js';
import type { EventBus, TransitionEvent } from './event-bus.js';

/** Transitions read per store query while catching up. */
const PAGE = 500;

type FeedStore = Pick<
  EvaluationStore,
  'transitionsAfter' | 'latestTransitionSeq' | 'readLogs' | 'watchChanges'
>;

/**
 * Events across replicas: turns a shared store's change notifications (PostgreSQL LISTEN/NOTIFY) into this
 * node's bus events, reading the store each time it is woken — notifications only wake, the store is the
 * truth. Every transition reaches the bus exactly once and in `seq` order, whichever replica wrote it: this
 * replica's own writes are announced through `committed` and published when the reader reaches their seq,
 * never ahead of an earlier seq another replica committed. Log chunks are read only for evaluations someone
 * here follows, and all of an evaluation's chunks are published before its terminal transition.
 */
export class StoreEventFeed {
  readonly #store: FeedStore;
  readonly #bus: EventBus;
  #lastSeq = 0;
  /** This replica's own transitions, by seq, waiting for the reader to reach them (for their evaluation). */
  readonly #own = new Map<number, Evaluation>();
  /** Highest chunk seq published per followed evaluation. */
  readonly #lastChunk = new Map<string, number>();
  readonly #pendingLogs = new Set<string>();
  readonly #reads: SerialRerun;
  #stopWatching: (() => Promise<void>) | null = null;
  #localWritesFor: (evaluationId: string) => Promise<unknown> = () => Promise.resolve();

  constructor(store: FeedStore, bus: EventBus, onError: (error: unknown) => void) {
    this.#store = store;
    this.#bus = bus;
    this.#reads = new SerialRerun(() => this.#readOnce(), onError);
  }

  /** Starts at the newest committed transition: SSE clients read older ones from the store themselves. */
  async start(): Promise<void> {
    if (!this.#store.watchChanges) throw new Error('this store cannot notify other replicas of changes');
    this.#stopWatching = await this.#store.watchChanges((change) => this.#changed(change));
    this.#lastSeq = await this.#store.latestTransitionSeq();
    this.#wake();
  }

  async stop(): Promise<void> {
    await this.#stopWatching?.();
    this.#stopWatching = null;
    await this.#reads.idle();
  }

  /**
   * This replica's writes in flight that may write an evaluation (from the service's serialized write chain).
   * Before it publishes a transition it read that was not announced through `committed`, the reader waits for
   * them: a write's commit can be read (its NOTIFY can arrive) before the write has returned and been announced,
   * and it must not then pass for another replica's. Only that evaluation's writes: waiting for the whole
   * chain made every replica's events as late as the busiest replica's write backlog.
   */
  awaitLocalWrites(inFlightFor: (evaluationId: string) => Promise<unknown>): void {
    this.#localWritesFor = inFlightFor;
  }

  /** A transition this replica committed; it is published in seq order with everyone else's. */
  committed(event: TransitionEvent): void {
    if (event.transition.seq <= this.#lastSeq) return;
    if (event.evaluation) this.#own.set(event.transition.seq, event.evaluation);
    this.#wake();
  }

  /** Chunks this replica stored: published at once (one writer per evaluation keeps them in order). */
  committedLogs(chunks: readonly LogChunk[]): void {
    for (const chunk of chunks) this.#publishChunk(chunk);
  }

  #changed(change: StoreChange): void {
    if (change.kind === 'log') {
      if (this.#bus.isFollowed(change.evaluationId)) this.#pendingLogs.add(change.evaluationId);
    } else if (change.kind === 'resync') {
      for (const id of this.#bus.followedEvaluations()) this.#pendingLogs.add(id);
    }
    this.#wake();
  }

  /** One reader at a time; a wake-up during a read makes it read once more. */
  #wake(): void {
    this.#reads.request();
  }

  async #readOnce(): Promise<void> {
    for (const id of [...this.#pendingLogs]) {
      this.#pendingLogs.delete(id);
      await this.#pullLogs(id);
    }
    for (;;) {
      const page = await this.#store.transitionsAfter(this.#lastSeq, PAGE);
      for (const transition of page) {
        if (!this.#own.has(transition.seq)) {
          await this.#localWritesFor(transition.evaluationId).catch(() => undefined);
        }
        const terminal = isTerminal(transition.to);
        // The owner stored every chunk before this commit: publish them first, so followers end complete.
        if (terminal && this.#bus.isFollowed(transition.evaluationId)) {
          await this.#pullLogs(transition.evaluationId);
        }
        if (terminal) this.#lastChunk.delete(transition.evaluationId);
        const evaluation = this.#own.get(transition.seq);
        this.#own.delete(transition.seq);
        this.#lastSeq = transition.seq;
        this.#bus.publishTransition(evaluation ? { transition, evaluation } : { transition });
      }
      if (page.length < PAGE) break;
    }
  }

  async #pullLogs(evaluationId: string): Promise<void> {
    const afterSeq = this.#lastChunk.get(evaluationId) ?? 0;
    for (const chunk of await this.#store.readLogs(evaluationId, { afterSeq })) this.#publishChunk(chunk);
  }

  #publishChunk(chunk: LogChunk): void {
    if ((this.#lastChunk.get(chunk.evaluationId) ?? 0) >= chunk.seq) return;
    this.#lastChunk.set(chunk.evaluationId, chunk.seq);
    this.#bus.publishLog(chunk);
  }
}
