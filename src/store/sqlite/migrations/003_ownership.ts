import type { Migration } from './migration.js';

/**
 * Replicas and the queue in the database:
 * - `owner` is the replica that claimed an evaluation (NULL for rows from before, and for queued ones); the
 *   (status, owner) index serves orphan and owned lookups, which ask for active statuses.
 * - `submitted_ms` is `submitted_at` as epoch milliseconds, the integer the queue order adds `rank × agingMs`
 *   to; written by `create` from the same `Date.parse` the scheduler uses, and backfilled here for old rows
 *   (julianday is a float: rounding gives back the exact millisecond).
 * - `evaluations_queue` holds only queued rows, in FIFO order per priority: what a claim walks.
 */
export const migration003: Migration = {
  version: 3,
  name: 'ownership',
  sql: `
ALTER TABLE evaluations ADD COLUMN owner TEXT;
ALTER TABLE evaluations ADD COLUMN submitted_ms INTEGER;
UPDATE evaluations SET submitted_ms = CAST(ROUND((julianday(submitted_at) - 2440587.5) * 86400000) AS INTEGER);
CREATE INDEX evaluations_status_owner ON evaluations (status, owner, row_order);
CREATE INDEX evaluations_queue ON evaluations (priority, submitted_ms, row_order) WHERE status = 'queued';
`,
};
