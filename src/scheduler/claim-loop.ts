import { SerialRerun } from '../core/index.js';

/** What the claim loop needs: how many slots are free, and a way to claim that many from the store. */
export interface ClaimLoopOptions {
  readonly freeSlots: () => number;
  /** Claims up to `max` queued evaluations and starts them; answers how many it claimed. */
  readonly claim: (max: number) => Promise<number>;
  readonly onError: (error: unknown) => void;
  /** Pause before trying again after a failed claim (the store is down); doubles up to `maxDelayMs`. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * Claims queued work whenever something may have changed — a submission, a freed slot here, a terminal
 * transition anywhere (a global slot) — and never runs two claims at once: wake-ups during a claim make it
 * claim once more. Event-driven: nothing is polled while the store answers.
 */
export class ClaimLoop {
  readonly #options: ClaimLoopOptions;
  readonly #passes: SerialRerun;
  #active = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: ClaimLoopOptions) {
    this.#options = options;
    this.#passes = new SerialRerun(() => this.#claimOnce(), options.onError);
  }

  start(): void {
    this.#active = true;
    this.wake();
  }

  /** Stops claiming; resolves once a claim in progress has ended. */
  async stop(): Promise<void> {
    this.#active = false;
    clearTimeout(this.#retry);
    await this.#passes.idle();
  }

  wake(): void {
    if (this.#active) this.#passes.request();
  }

  async #claimOnce(): Promise<void> {
    if (!this.#active) return;
    const free = this.#options.freeSlots();
    if (free <= 0) return;
    let claimed: number;
    try {
      claimed = await this.#options.claim(free);
      this.#failures = 0;
    } catch (error) {
      this.#options.onError(error);
      // The retry timer wakes the loop: wake-ups meanwhile must not bypass the backoff.
      this.#passes.drop();
      this.#scheduleRetry();
      return;
    }
    // A full batch may have left more behind; a short one means the queue (or the global limit) is done.
    if (claimed === free) this.#passes.request();
  }

  #scheduleRetry(): void {
    const base = this.#options.baseDelayMs ?? 50;
    const delay = Math.min(this.#options.maxDelayMs ?? 2_000, base * 2 ** this.#failures++);
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.wake(), delay);
    this.#retry.unref();
  }
}
