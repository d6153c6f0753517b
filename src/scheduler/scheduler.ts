import type { Priority } from '../core/index.js';
import { PriorityQueue, type QueueEntry } from './priority-queue.js';

export interface SchedulerOptions {
  /** Global number of evaluations allowed in `starting` or `running` at once. */
  readonly concurrency: number;
  readonly agingMs: number;
  /** Starts one evaluation; the scheduler counts it as running until `release` is called for it. */
  readonly dispatch: (entry: QueueEntry) => void;
}

export interface QueueStats {
  readonly queued: Record<Priority, number>;
  readonly running: number;
  readonly capacity: number;
}

/**
 * Admission control: holds queued evaluations in priority order and hands them to `dispatch` while fewer than
 * `concurrency` are running. It keeps no state of its own that the store does not also have, so a restart
 * rebuilds it from the queued evaluations.
 */
export class Scheduler {
  readonly #queue: PriorityQueue;
  readonly #running = new Set<string>();
  readonly #options: SchedulerOptions;
  #paused = true;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#queue = new PriorityQueue(options.agingMs);
  }

  /** Begins dispatching. Entries enqueued before this wait, so recovery can finish first. */
  start(): void {
    this.#paused = false;
    this.#pump();
  }

  stop(): void {
    this.#paused = true;
  }

  enqueue(entry: QueueEntry): void {
    this.#queue.push(entry);
    this.#pump();
  }

  /** Removes a queued entry; false when it was not queued (already dispatched or unknown). */
  remove(id: string): boolean {
    return this.#queue.remove(id);
  }

  /** Counts an evaluation that is already running (e.g. re-adopted after a restart) against capacity. */
  occupy(id: string): void {
    this.#running.add(id);
  }

  /** Frees the slot of an evaluation that reached a terminal status. */
  release(id: string): void {
    if (this.#running.delete(id)) this.#pump();
  }

  stats(): QueueStats {
    return {
      queued: this.#queue.countsByPriority(),
      running: this.#running.size,
      capacity: this.#options.concurrency,
    };
  }

  #pump(): void {
    while (!this.#paused && this.#running.size < this.#options.concurrency) {
      const next = this.#queue.pop();
      if (!next) return;
      this.#running.add(next.id);
      this.#options.dispatch(next);
    }
  }
}
