import { CrucibleError, decideQuota, RATE_WINDOW_MS, type Quotas } from '../core/index.js';
import type { QuotaStore, TokenStore } from '../store/store.js';

/** How long the per-user `maxRunning` read from the tokens is reused by claims (a changed token applies after). */
const LIMITS_TTL_MS = 2_000;

/** `429 rate_limited` with how long to wait: the API sends it as `Retry-After`. */
export class RateLimited extends CrucibleError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message, null);
  }
}

/**
 * Per-user quotas (docs/scheduling.md). `maxQueued` and `ratePerMinute` are checked at submission against the
 * caller's token, from counts in the store (so every replica sees the same queue and window, and a restart
 * forgets nothing); `maxRunning` is handed to each claim, per user, from the stored tokens. No token (the
 * bootstrap admin token, authentication off): no quotas.
 */
export class UserQuotas {
  readonly #store: QuotaStore | undefined;
  readonly #tokens: TokenStore | undefined;
  readonly #now: () => Date;
  #limits: { readonly at: number; readonly byUser: Record<string, number> | undefined } | undefined;

  constructor(store: QuotaStore | undefined, tokens: TokenStore | undefined, now: () => Date) {
    this.#store = store;
    this.#tokens = tokens;
    this.#now = now;
  }

  /**
   * Refuses `count` more submissions past the user's quotas; call it where the submission is stored, serially
   * with other writes here, so two submissions of this replica never both take the last place.
   *
   * @throws CrucibleError `quota_exceeded` past `maxQueued`; RateLimited past `ratePerMinute`
   */
  async admit(user: string | null, quotas: Quotas | null | undefined, count: number): Promise<void> {
    if (user === null || !quotas) return;
    this.#noteMaxRunning(user, quotas.maxRunning);
    if (!this.#store) return;
    if (quotas.maxQueued === null && quotas.ratePerMinute === null) return;
    const nowMs = this.#now().getTime();
    const rate = quotas.ratePerMinute ?? 0;
    const backlog = await this.#store.userBacklog(user, nowMs - RATE_WINDOW_MS, rate - count + 1);
    const decision = decideQuota(quotas, backlog, count, nowMs);
    if (decision.ok) return;
    if (decision.code === 'rate_limited') throw new RateLimited(decision.message, decision.retryAfterSeconds);
    throw new CrucibleError('quota_exceeded', decision.message, null);
  }

  /**
   * A submission's token says what its user's limit is now: when the claims' copy disagrees (a token made or
   * changed since it was read), it is read again before the next claim rather than up to 2 s later.
   */
  #noteMaxRunning(user: string, maxRunning: number | null): void {
    const known = this.#limits?.byUser?.[user];
    const stale = maxRunning === null ? known !== undefined : known === undefined || known < maxRunning;
    if (stale) this.#limits = undefined;
  }

  /**
   * Each limited user's `maxRunning` for a claim: the largest among their tokens, none when any of their
   * tokens has none (a user's limit does not depend on which token submitted). Reread every 2 s at most.
   */
  async maxRunning(): Promise<Record<string, number> | undefined> {
    if (!this.#tokens) return undefined;
    const now = Date.now();
    if (this.#limits && now - this.#limits.at < LIMITS_TTL_MS) return this.#limits.byUser;
    const limits = new Map<string, number | null>();
    for (const token of await this.#tokens.listTokens()) {
      const earlier = limits.get(token.user);
      const limit = token.maxRunning;
      if (earlier === undefined) limits.set(token.user, limit);
      else if (earlier !== null) limits.set(token.user, limit === null ? null : Math.max(earlier, limit));
    }
    const byUser = Object.fromEntries(
      [...limits].filter((entry): entry is [string, number] => entry[1] !== null),
    );
    this.#limits = { at: now, byUser: Object.keys(byUser).length > 0 ? byUser : undefined };
    return this.#limits.byUser;
  }
}
