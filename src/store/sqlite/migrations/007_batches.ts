import type { Migration } from './migration.js';

const TERMINAL = "('succeeded', 'failed', 'timed_out', 'cancelled', 'error')";

/**
 * Batches (see `../../batches.ts`). `remaining` counts the batch's evaluations not yet terminal; the trigger
 * counts it down in the transaction that moves one of them to a terminal status (whichever statement does),
 * and the write that takes it to zero enqueues the batch's webhook in that same transaction, once (its id is
 * `msg_batch_<id>`). The idempotency key lives on the batch row (NULLs never collide in a UNIQUE index).
 * `evaluations_batch` serves the progress counts and `list` of one batch, newest first. Version 7: 6 is the
 * users and tokens step, written at the same time; the runner applies whichever is missing.
 */
export const migration007: Migration = {
  version: 7,
  name: 'batches',
  sql: `
CREATE TABLE batches (
  id                TEXT PRIMARY KEY,
  total             INTEGER NOT NULL,
  remaining         INTEGER NOT NULL,
  labels            TEXT NOT NULL,
  webhook_url       TEXT,
  user_name         TEXT,
  created_at        TEXT NOT NULL,
  done_at           TEXT,
  idempotency_scope TEXT,
  idempotency_key   TEXT,
  fingerprint       TEXT
);
CREATE UNIQUE INDEX batches_idempotency ON batches (idempotency_scope, idempotency_key);
ALTER TABLE evaluations ADD COLUMN batch_id TEXT;
CREATE INDEX evaluations_batch ON evaluations (batch_id, row_order) WHERE batch_id IS NOT NULL;
CREATE TRIGGER evaluations_batch_progress AFTER UPDATE OF status ON evaluations
WHEN NEW.batch_id IS NOT NULL AND NEW.status IN ${TERMINAL} AND OLD.status NOT IN ${TERMINAL}
BEGIN
  UPDATE batches SET remaining = remaining - 1,
    done_at = CASE WHEN remaining = 1 THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE done_at END
  WHERE id = NEW.batch_id;
  INSERT OR IGNORE INTO webhook_deliveries
    (id, subject_kind, subject_id, url, state, attempts, due_ms, claimed_by, created_at)
  SELECT 'msg_batch_' || b.id, 'batch', b.id, b.webhook_url, 'pending', 0, 0, NULL,
         strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM batches b WHERE b.id = NEW.batch_id AND b.remaining = 0 AND b.webhook_url IS NOT NULL;
END;
`,
};
