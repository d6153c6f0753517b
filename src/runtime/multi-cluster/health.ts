import type { V1ResourceQuota } from '@kubernetes/client-node';

export interface HealthOptions {
  /** Time between readiness probes. */
  readonly probeIntervalMs: number;
  /** A probe that has not answered after this long has failed. */
  readonly probeTimeoutMs: number;
  /** Consecutive failed probes before the cluster is taken out of placement (one blip does not move work). */
  readonly failuresToUnreachable: number;
  /** Unreachable this long: its evaluations end as `error` / `cluster_unreachable`. */
  readonly lostAfterMs: number;
}

export interface HealthEvents {
  unreachable(): void;
  /** The cluster answered again after being unreachable. */
  recovered(): void;
  /** Unreachable for `lostAfterMs`. */
  lost(): void;
}

/**
 * One cluster's health, from a cheap periodic GET (the namespace's ResourceQuotas) with a short timeout. The
 * runtime's own watches cannot tell us: a quiet namespace legitimately sends nothing for minutes, and their
 * reconnects back off up to 30 s. The same GET refreshes the quota used for placement, so the probe costs
 * one small request per cluster per interval. A failed API call seen elsewhere (`suspect`) probes at once.
 */
export class ClusterHealth {
  healthy = true;
  unreachableSince: Date | null = null;
  lastError: string | null = null;
  quotas: V1ResourceQuota[] = [];
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #lostTimer: NodeJS.Timeout | undefined;
  #probing: Promise<void> | null = null;
  #stopped = false;

  constructor(
    private readonly probe: () => Promise<V1ResourceQuota[]>,
    private readonly options: HealthOptions,
    private readonly events: HealthEvents,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * The first probe, then one every interval. A cluster that does not answer the first probe starts as
   * unreachable: with no history of answering, one miss is enough to keep work off it.
   */
  async start(): Promise<void> {
    await this.check();
    if (this.#failures > 0 && this.healthy) this.#markUnreachable();
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#lostTimer);
  }

  /** Something else saw the API fail: probe now instead of at the next interval. */
  suspect(): void {
    if (!this.#stopped) void this.check();
  }

  /** One probe at a time; callers that arrive meanwhile share it. */
  check(): Promise<void> {
    this.#probing ??= this.#probeOnce().finally(() => (this.#probing = null));
    return this.#probing;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(
      () => void this.check().finally(() => this.#schedule()),
      this.options.probeIntervalMs,
    );
    this.#timer.unref();
  }

  async #probeOnce(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.options.probeTimeoutMs} ms`)),
        this.options.probeTimeoutMs,
      );
    });
    try {
      this.quotas = await Promise.race([this.probe(), expired]);
      this.#answered();
    } catch (error) {
      this.#failed(error instanceof Error ? error.message : String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  #answered(): void {
    this.#failures = 0;
    this.lastError = null;
    if (this.healthy || this.#stopped) return;
    this.healthy = true;
    this.unreachableSince = null;
    clearTimeout(this.#lostTimer);
    this.events.recovered();
  }

  #failed(message: string): void {
    this.#failures += 1;
    this.lastError = message;
    if (this.healthy && this.#failures >= this.options.failuresToUnreachable) this.#markUnreachable();
  }

  #markUnreachable(): void {
    if (this.#stopped) return;
    this.healthy = false;
    this.unreachableSince = this.clock();
    this.#lostTimer = setTimeout(() => {
      if (!this.healthy && !this.#stopped) this.events.lost();
    }, this.options.lostAfterMs);
    this.#lostTimer.unref();
    this.events.unreachable();
  }
}
