import { EventEmitter } from 'node:events';
import type { Evaluation, LogChunk, Transition } from '../core/index.js';

export interface TransitionEvent {
  readonly transition: Transition;
  /**
   * The evaluation after the transition, when this replica wrote it; absent for transitions other replicas
   * wrote (seen through a shared store), so per-replica metrics count only their own work.
   */
  readonly evaluation?: Evaluation;
  /**
   * For another replica's transition that a store notification carried: when it was committed, ms since the
   * epoch by the store's clock (the replica-to-replica lag is the time from then to its publication here).
   */
  readonly committedAt?: number;
}

interface BusEvents {
  transition: [TransitionEvent];
  [log: `log:${string}`]: [LogChunk];
}

/**
 * In-process, typed event bus for one node. Listeners run synchronously in emit order, which is what makes
 * SSE resume gap-free: a subscriber registered before it reads the store sees every later event. Log chunks
 * are published per evaluation, so a chunk reaches only that evaluation's followers.
 */
export class EventBus {
  readonly #emitter = new EventEmitter<BusEvents>();

  constructor() {
    // Every SSE client and log follower is one listener; the API bounds their number, not the emitter.
    this.#emitter.setMaxListeners(0);
  }

  publishTransition(event: TransitionEvent): void {
    this.#emitter.emit('transition', event);
  }

  publishLog(chunk: LogChunk): void {
    this.#emitter.emit(`log:${chunk.evaluationId}`, chunk);
  }

  onTransition(listener: (event: TransitionEvent) => void): () => void {
    this.#emitter.on('transition', listener);
    return () => this.#emitter.off('transition', listener);
  }

  onLog(evaluationId: string, listener: (chunk: LogChunk) => void): () => void {
    this.#emitter.on(`log:${evaluationId}`, listener);
    return () => this.#emitter.off(`log:${evaluationId}`, listener);
  }

  /** Listeners of transitions (event streams, held requests, the service's own): falls back as clients leave. */
  get transitionListeners(): number {
    return this.#emitter.listenerCount('transition');
  }

  /** Evaluations someone on this node follows the logs of. */
  followedEvaluations(): string[] {
    return this.#emitter
      .eventNames()
      .filter((name): name is `log:${string}` => typeof name === 'string' && name.startsWith('log:'))
      .map((name) => name.slice('log:'.length));
  }

  isFollowed(evaluationId: string): boolean {
    return this.#emitter.listenerCount(`log:${evaluationId}`) > 0;
  }
}
