/**
 * Runs a task one pass at a time: a request while a pass runs makes one more pass afterwards, so every
 * request is served by a pass that started after it, and requests that pile up meanwhile cost one pass. The
 * claim loop (something may be claimable) and the store feed (something was committed) are both this.
 */
export class SerialRerun {
  readonly #pass: () => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #requested = false;
  #running: Promise<void> | null = null;

  constructor(pass: () => Promise<void>, onError: (error: unknown) => void) {
    this.#pass = pass;
    this.#onError = onError;
  }

  request(): void {
    this.#requested = true;
    this.#running ??= this.#loop();
  }

  /** Forgets the requests not served yet (e.g. a retry timer will request again). */
  drop(): void {
    this.#requested = false;
  }

  /** Resolves once no pass runs. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #loop(): Promise<void> {
    try {
      // A pass may request again before its first await: `#running` must be set by then.
      await undefined;
      while (this.#requested) {
        this.#requested = false;
        try {
          await this.#pass();
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      // No await between the last check of `#requested` and here: no request can fall in between.
      this.#running = null;
    }
  }
}
