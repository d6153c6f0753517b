/**
 * Deleting what retention no longer keeps (docs/retention.md). Conformance: test/objects/retention.test.ts
 * runs the same cases on both built-in stores.
 */

/** A terminal evaluation old enough to delete, and whether it may have objects (artifacts, long logs). */
export interface PrunableEvaluation {
  readonly id: string;
  readonly hasObjects: boolean;
}

export interface RetentionStore {
  /**
   * Up to `limit` terminal evaluations that finished before `cutoff` (ISO 8601), oldest first — except those
   * a pending webhook delivery refers to, or whose batch is unfinished or has a pending delivery: they are
   * kept until those finish.
   */
  prunable(cutoff: string, limit: number): Promise<PrunableEvaluation[]>;
  /**
   * Deletes these evaluations with everything of theirs in the database (transitions, log chunks, labels,
   * idempotency keys, webhook targets and finished deliveries) in one transaction, and batches left empty.
   * Returns how many evaluations were deleted (ids already gone are skipped).
   */
  deleteEvaluations(ids: readonly string[]): Promise<number>;
  /** Gives freed space back to the filesystem where the database can (SQLite: incremental vacuum). */
  reclaim(): Promise<void>;
  /** Bytes the database takes now. */
  sizeBytes(): Promise<number>;
}
