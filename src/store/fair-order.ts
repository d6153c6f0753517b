import { priorityRank, type Evaluation } from '../core/index.js';
import { submittedMs } from './claim.js';

/** A queued row a claim fetched: its evaluation and where it stands in its priority's fair order. */
export interface FairCandidate {
  readonly evaluation: Evaluation;
  readonly rowOrder: number;
}

/** One priority's next rows in fair order (tag, then creation), and whether the fetch was cut at its limit. */
export interface PriorityRows {
  readonly rows: readonly FairCandidate[];
  /** True when more rows may follow the last one (the fetch returned as many as it asked for). */
  readonly truncated: boolean;
}

/**
 * The claim's order across priorities: each priority's rows stay in their fair order, and the next one
 * taken is the head (among the priorities' heads) with the smallest `submitted_ms + rank × aging`, ties in
 * creation order. With one user (or none) each priority's fair order is FIFO, and this is exactly the old
 * global sort by that key. Stops before it would need a row past a truncated list: the caller fetches more.
 */
export function* mergeByAging(lists: readonly PriorityRows[], agingMs: number): Generator<FairCandidate> {
  const next = lists.map(() => 0);
  const keyOf = (c: FairCandidate) =>
    submittedMs(c.evaluation) + priorityRank(c.evaluation.priority) * agingMs;
  for (;;) {
    let best = -1;
    let bestKey = 0;
    for (const [i, list] of lists.entries()) {
      const head = list.rows[next[i]!];
      if (!head) {
        if (list.truncated) return;
        continue;
      }
      const key = keyOf(head);
      const current = best < 0 ? undefined : lists[best]!.rows[next[best]!]!;
      if (!current || key < bestKey || (key === bestKey && head.rowOrder < current.rowOrder)) {
        best = i;
        bestKey = key;
      }
    }
    if (best < 0) return;
    const row = lists[best]!.rows[next[best]!]!;
    next[best]!++;
    yield row;
  }
}

/**
 * `maxRunning` inside one claim: what each limited user runs (or holds) now, counted up as the claim takes
 * theirs. Users without a limit (and evaluations without a user) are never refused.
 */
export class RunningAllowance {
  readonly #limits: ReadonlyMap<string, number>;
  readonly #active: Map<string, number>;

  constructor(limits: Readonly<Record<string, number>> | undefined, active: ReadonlyMap<string, number>) {
    this.#limits = new Map(Object.entries(limits ?? {}));
    this.#active = new Map(active);
  }

  /** The users with a limit, whose active counts the claim must read. */
  static limitedUsers(limits: Readonly<Record<string, number>> | undefined): string[] {
    return Object.keys(limits ?? {});
  }

  /** Users at their limit: their rows are left out of the fetch. */
  blocked(): string[] {
    return [...this.#limits]
      .filter(([user, limit]) => (this.#active.get(user) ?? 0) >= limit)
      .map(([u]) => u);
  }

  /** Whether the user may start one more now. */
  allows(user: string | undefined | null): boolean {
    if (user === undefined || user === null) return true;
    const limit = this.#limits.get(user);
    return limit === undefined || (this.#active.get(user) ?? 0) < limit;
  }

  /** Counts one more of the user's as taken. */
  take(user: string | undefined | null): void {
    if (user === undefined || user === null || !this.#limits.has(user)) return;
    this.#active.set(user, (this.#active.get(user) ?? 0) + 1);
  }
}

/**
 * Index entries a claim reads past `room`, per priority, before it stops passing over the rows of users at
 * their `maxRunning` one by one and takes each other user's head instead (see the stores' claim candidates).
 * Enough that a queue where some users are at their limit reads no more than today's one statement.
 */
export const PROBE_SLACK = 32;

/** A row with the two columns of the fair order. */
type FairRow = Readonly<Record<string, unknown>>;

const fairKey = (row: FairRow): [number, number] => [Number(row['fair_tag']), Number(row['row_order'])];

/**
 * The first `room` rows in fair order (`fair_tag`, then `row_order`) of several lists each already in that
 * order (one user's head, the anonymous rows' head): what the priority's index would give without the
 * blocked users' rows in it.
 */
export function mergeUserHeads<R extends FairRow>(heads: readonly (readonly R[])[], room: number): R[] {
  const all = heads.flat();
  all.sort((a, b) => {
    const [tagA, orderA] = fairKey(a);
    const [tagB, orderB] = fairKey(b);
    return tagA - tagB || orderA - orderB;
  });
  return all.slice(0, room);
}
