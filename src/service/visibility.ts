import type { EvaluationStore } from '../store/store.js';
import { canSee, type Caller } from './caller.js';

/** Enough for every evaluation a busy server sees in a while; each entry is an id and a name. */
const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * The user of each evaluation, remembered, so a user's event stream can drop other users' transitions
 * without a store read per transition (a transition carries only the evaluation id). An evaluation's user
 * never changes, so a remembered one is never stale; the oldest entries are forgotten past the bound.
 */
export class EvaluationUsers {
  readonly #store: EvaluationStore;
  readonly #users = new Map<string, string | null>();
  readonly #max: number;

  constructor(store: EvaluationStore, max = DEFAULT_MAX_ENTRIES) {
    this.#store = store;
    this.#max = max;
  }

  remember(evaluationId: string, user: string | null): void {
    if (this.#users.size >= this.#max) {
      const oldest = this.#users.keys().next();
      if (!oldest.done) this.#users.delete(oldest.value);
    }
    this.#users.set(evaluationId, user);
  }

  /** Whether the caller may see the evaluation; false for one that does not exist. */
  async visible(caller: Caller, evaluationId: string): Promise<boolean> {
    if (caller.admin) return true;
    let user = this.#users.get(evaluationId);
    if (user === undefined) {
      const evaluation = await this.#store.get(evaluationId);
      if (!evaluation) return false;
      user = evaluation.user ?? null;
      this.remember(evaluationId, user);
    }
    return canSee(caller, { user });
  }
}
