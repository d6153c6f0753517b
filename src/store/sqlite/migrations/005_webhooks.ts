import type { Migration } from './migration.js';

const TERMINAL = "('succeeded', 'failed', 'timed_out', 'cancelled', 'error')";

/**
 * The webhook outbox (see `../../webhooks.ts`). `evaluation_webhooks` holds each evaluation's target, written
 * before the evaluation (no foreign key: the evaluation does not exist yet). The trigger enqueues the delivery
 * inside the transaction that moves the evaluation to a terminal status — whichever statement does it — so
 * the two commit together. `due_ms` 0 means due at once; `webhook_deliveries_due` serves claims and the
 * next-due look-up, over pending rows only.
 */
export const migration005: Migration = {
  version: 5,
  name: 'webhooks',
  sql: `
CREATE TABLE evaluation_webhooks (
  evaluation_id TEXT PRIMARY KEY,
  url           TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
  id           TEXT PRIMARY KEY,
  subject_kind TEXT NOT NULL,
  subject_id   TEXT NOT NULL,
  url          TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts     INTEGER NOT NULL,
  due_ms       INTEGER,
  claimed_by   TEXT,
  created_at   TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_ms) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (subject_kind, subject_id);
CREATE TABLE webhook_attempts (
  delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt         INTEGER NOT NULL,
  at              TEXT NOT NULL,
  status_code     INTEGER,
  error           TEXT,
  duration_ms     INTEGER NOT NULL,
  next_attempt_at TEXT,
  PRIMARY KEY (delivery_id, attempt)
);
CREATE TRIGGER evaluations_enqueue_webhook AFTER UPDATE OF status ON evaluations
WHEN NEW.status IN ${TERMINAL} AND OLD.status NOT IN ${TERMINAL}
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries
    (id, subject_kind, subject_id, url, state, attempts, due_ms, claimed_by, created_at)
  SELECT 'msg_' || w.evaluation_id, 'evaluation', w.evaluation_id, w.url, 'pending', 0, 0, NULL,
         strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM evaluation_webhooks w WHERE w.evaluation_id = NEW.id;
END;
`,
};
