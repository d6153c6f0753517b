import type { EvaluationStore } from '../store/store.js';

/** Default lease of a replica on its work: as client-go's leader election, 15 s. */
export const DEFAULT_LEASE_MS = 15_000;

/**
 * Keeps this replica's lease in the store alive (renewed every third of its length), so the other replicas
 * know its work is owned. When it stops renewing (the process died), the lease runs out and its
 * `starting`/`running` evaluations become orphans that a live replica re-adopts or ends.
 */
export class ReplicaLease {
  readonly #store: Pick<EvaluationStore, 'renewLease' | 'dropLease'>;
  readonly #replica: string;
  readonly #ttlMs: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    store: Pick<EvaluationStore, 'renewLease' | 'dropLease'>,
    replica: string,
    ttlMs: number,
    onError: (error: unknown) => void,
  ) {
    this.#store = store;
    this.#replica = replica;
    this.#ttlMs = ttlMs;
    this.#onError = onError;
  }

  /** Takes the lease (throws when the store does not answer), then renews it in the background. */
  async start(): Promise<void> {
    await this.#store.renewLease(this.#replica, this.#ttlMs);
    this.#timer = setInterval(() => {
      this.#store.renewLease(this.#replica, this.#ttlMs).catch(this.#onError);
    }, this.#ttlMs / 3);
    this.#timer.unref();
  }

  /** Stops renewing and gives the lease up, so others may take over at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#store.dropLease(this.#replica).catch(this.#onError);
  }
}
