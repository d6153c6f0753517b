import type { PlatformErrorOutcome } from '../../core/index.js';
import type { DeliveredBytes, RunObserver, RunRequest } from '../runtime.js';

interface Pending {
  readonly request: RunRequest;
  readonly observer: RunObserver;
  readonly delivered: DeliveredBytes | undefined;
  /** Clusters that could not say whether they hold its Job. */
  readonly waitingFor: Set<string>;
  /** Some waited-for cluster was unreachable until the bound. */
  timedOut: boolean;
}

export interface PendingDeps {
  adoptOn(
    cluster: string,
    request: RunRequest,
    observer: RunObserver,
    delivered: DeliveredBytes | undefined,
  ): Promise<'adopted' | 'lost'>;
  lostOutcome(): PlatformErrorOutcome;
  now(): Date;
}

/**
 * Runs offered to `adopt` (after a restart or a leader change) that no reachable cluster holds while some
 * cluster could not answer: the Job may be on one of those. Each is tried again on a cluster as soon as it
 * answers; once every cluster has answered without it, it ends as `lost_on_restart` (as on one cluster);
 * when a cluster it waited for stayed unreachable past the bound, as `cluster_unreachable`. It is never
 * started anew: the Job may have run.
 */
export class PendingAdoptions {
  readonly #runs = new Map<string, Pending>();

  constructor(private readonly deps: PendingDeps) {}

  add(
    request: RunRequest,
    observer: RunObserver,
    delivered: DeliveredBytes | undefined,
    clusters: string[],
  ): void {
    this.#runs.set(request.evaluationId, {
      request,
      observer,
      delivered,
      waitingFor: new Set(clusters),
      timedOut: false,
    });
  }

  countOn(cluster: string): number {
    let count = 0;
    for (const run of this.#runs.values()) if (run.waitingFor.has(cluster)) count += 1;
    return count;
  }

  drop(evaluationId: string): void {
    this.#runs.delete(evaluationId);
  }

  clear(): void {
    this.#runs.clear();
  }

  /** The cluster answers again: ask it about each run waiting for it. */
  recovered(cluster: string): void {
    for (const run of [...this.#runs.values()]) {
      if (!run.waitingFor.has(cluster)) continue;
      void this.deps.adoptOn(cluster, run.request, run.observer, run.delivered).then(
        (answer) => {
          if (this.#runs.get(run.request.evaluationId) !== run) return;
          if (answer === 'adopted') this.#runs.delete(run.request.evaluationId);
          else this.#answered(run, cluster);
        },
        // Still not answering properly: it stays waiting (for the next recovery, or the bound).
        () => undefined,
      );
    }
  }

  /** The cluster stayed unreachable past the bound. */
  lost(cluster: string): void {
    for (const run of [...this.#runs.values()]) {
      if (!run.waitingFor.has(cluster)) continue;
      run.timedOut = true;
      this.#answered(run, cluster);
    }
  }

  #answered(run: Pending, cluster: string): void {
    run.waitingFor.delete(cluster);
    if (run.waitingFor.size > 0) return;
    this.#runs.delete(run.request.evaluationId);
    const outcome: PlatformErrorOutcome = run.timedOut
      ? this.deps.lostOutcome()
      : {
          kind: 'error',
          reason: 'lost_on_restart',
          message: 'no cluster holds this evaluation any more; it was not run again',
          at: this.deps.now(),
        };
    void Promise.resolve(run.observer.finished(outcome)).catch(() => undefined);
  }
}
