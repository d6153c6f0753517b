import type { UserBacklog } from '../core/index.js';

/**
 * What the service's quota checks read (docs/scheduling.md), in the same database as the evaluations. Counts
 * come off per-user indexes: the cost is the user's queued count and their submissions in the window, which
 * the quotas themselves bound.
 */
export interface QuotaStore {
  /**
   * The user's queued count, their submissions with `submittedAt` at or after `sinceMs`, and the submission
   * time of the `nthNewest` newest of those (1-based; null when there are fewer, or `nthNewest` < 1).
   */
  userBacklog(user: string, sinceMs: number, nthNewest: number): Promise<UserBacklog>;
}
