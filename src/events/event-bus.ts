import { EventEmitter } from 'node:events';
import type { Evaluation, LogChunk, Transition } from '../core/index.js';

export interface TransitionEvent {
  readonly transition: Transition;
  readonly evaluation: Evaluation;
}

interface BusEvents {
  transition: [TransitionEvent];
  log: [LogChunk];
}

/**
 * In-process, typed event bus for one node. Listeners run synchronously in emit order, which is what makes
 * SSE resume gap-free: a subscriber registered before it reads the store sees every later event.
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
    this.#emitter.emit('log', chunk);
  }

  onTransition(listener: (event: TransitionEvent) => void): () => void {
    this.#emitter.on('transition', listener);
    return () => this.#emitter.off('transition', listener);
  }

  onLog(listener: (chunk: LogChunk) => void): () => void {
    this.#emitter.on('log', listener);
    return () => this.#emitter.off('log', listener);
  }
}
