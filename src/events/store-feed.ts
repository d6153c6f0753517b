import { SerialRerun, isTerminal, type Evaluation, type LogChunk, type Transition } from '../core/index.js';
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
 * node's bus events. Notifications that carry their transitions are published as they come (they arrive in
 * commit order, which is seq order); one that does not, a lost connection, or start-up makes it read the store,
 * which stays the truth. Every transition reaches the bus exactly once and in `seq` order, whichever replica wrote it: this
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
  /**
   * Transitions known but not yet published, by seq: carried by notifications or read from the store.
   * `mine` is whether this replica's store wrote it (unknown for one read back: then maybe).
   */
  readonly #received = new Map<
    number,
    { transition: Transition; mine: boolean | undefined; committedAt?: number | undefined }
  >();
  /** A change came that did not carry its transitions (or some may have been missed): read the store. */
  #mustRead = true;
  /** Highest chunk seq published per followed evaluation. */
  readonly #lastChunk = new Map<string, number>();
  readonly #pendingLogs = new Set<string>();
  readonly #reads: SerialRerun;
  #stopWatching: (() => Promise<void>) | null = null;
  #localWritesFor: (transition: Transition) => Promise<unknown> = () => Promise.resolve();

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
    for (const seq of this.#received.keys()) if (seq <= this.#lastSeq) this.#received.delete(seq);
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
  awaitLocalWrites(inFlightFor: (transition: Transition) => Promise<unknown>): void {
    this.#localWritesFor = inFlightFor;
  }

  /** A transition this replica committed; it is published in seq order with everyone else's. */
  committed(event: TransitionEvent): void {
    if (event.transition.seq <= this.#lastSeq) return;
    if (event.evaluation) this.#own.set(event.transition.seq, event.evaluation);
    this.#receive(event.transition, true);
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
      this.#mustRead = true;
    } else if (change.transitions) {
      for (const transition of change.transitions) {
        this.#receive(transition, change.local, change.committedAt);
      }
    } else {
      this.#mustRead = true;
    }
    this.#wake();
  }

  #receive(transition: Transition, mine: boolean | undefined, committedAt?: number): void {
    if (transition.seq <= this.#lastSeq || this.#received.has(transition.seq)) return;
    this.#received.set(transition.seq, { transition, mine, committedAt });
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
      await this.#publishReceived();
      if (!this.#mustRead) return;
      this.#mustRead = false;
      for (;;) {
        const page = await this.#store.transitionsAfter(this.#lastSeq, PAGE);
        for (const transition of page) this.#receive(transition, undefined);
        await this.#publishReceived();
        if (page.length < PAGE) break;
      }
    }
  }

  /**
   * Publishes the received transitions that follow the last published one without a gap (a gap is filled by
   * a later notification or read: notifications come in commit order, and one that cannot carry its
   * transitions makes the reader read).
   */
  async #publishReceived(): Promise<void> {
    for (
      let next = this.#received.get(this.#lastSeq + 1);
      next;
      next = this.#received.get(this.#lastSeq + 1)
    ) {
      const { transition, mine, committedAt } = next;
      // Possibly this replica's, not announced yet: its write has not returned. Wait for it (only that
      // evaluation's writes), so it is published as this replica's own.
      if (mine !== false && !this.#own.has(transition.seq)) {
        await this.#localWritesFor(transition).catch(() => undefined);
      }
      const terminal = isTerminal(transition.to);
      // The owner stored every chunk before this commit: publish them first, so followers end complete.
      if (terminal && this.#bus.isFollowed(transition.evaluationId)) {
        await this.#pullLogs(transition.evaluationId);
      }
      if (terminal) this.#lastChunk.delete(transition.evaluationId);
      const evaluation = this.#own.get(transition.seq);
      this.#own.delete(transition.seq);
      this.#received.delete(transition.seq);
      this.#lastSeq = transition.seq;
      this.#bus.publishTransition(
        evaluation
          ? { transition, evaluation }
          : { transition, ...(committedAt === undefined ? {} : { committedAt }) },
      );
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
