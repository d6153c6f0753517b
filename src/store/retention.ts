/**
 * Deleting what retention no longer keeps (docs/retention.md). Conformance: test/objects/retention.test.ts
 * runs the same cases on both built-in stores.
 */

/** A terminal evaluation old enough to delete, and whether it may have objects (artifacts, long logs). */
export interface PrunableEvaluation {
  readonly id: string;
  readonly hasObjects: boolean;
}

/** Evaluations a retention rule is about: those with a label, or a user's. */
export type RetentionMatch =
  | { readonly kind: 'label'; readonly key: string; readonly value: string }
  | { readonly kind: 'user'; readonly user: string };

/** Which evaluations one prune query may return: matched by `only` (absent: any), by none of `except`. */
export interface PruneScope {
  readonly only?: RetentionMatch;
  readonly except: readonly RetentionMatch[];
}

export interface RetentionStore {
  /**
   * Up to `limit` terminal evaluations that finished before `cutoff` (ISO 8601) within `scope`, oldest
   * first — except those a pending webhook delivery refers to, or whose batch is unfinished or has a pending
   * delivery: they are kept until those finish.
   */
  prunable(cutoff: string, limit: number, scope?: PruneScope): Promise<PrunableEvaluation[]>;
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

/**
 * The SQL condition of a scope on `e` (an evaluations row), the same on both stores: `param` adds a value
 * and answers its placeholder, `table` the qualified table name. Values are never put in the text.
 */
export function scopeCondition(
  scope: PruneScope | undefined,
  table: (name: string) => string,
  param: (value: string) => string,
): string {
  if (!scope) return '';
  const matches = (match: RetentionMatch) =>
    match.kind === 'user'
      ? `e.user_name = ${param(match.user)}`
      : `EXISTS (SELECT 1 FROM ${table('evaluation_labels')} l WHERE l.row_order = e.row_order ` +
        `AND l.key = ${param(match.key)} AND l.value = ${param(match.value)})`;
  // A NULL user never equals a name: `coalesce` keeps NOT from turning the row's NULL into "unknown".
  const parts = [
    ...(scope.only ? [matches(scope.only)] : []),
    ...scope.except.map((match) => `NOT coalesce(${matches(match)}, false)`),
  ];
  return parts.map((part) => ` AND ${part}`).join('');
}
