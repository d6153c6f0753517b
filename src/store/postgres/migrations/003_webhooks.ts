import type { Migration } from './migration.js';

const TERMINAL = "('succeeded', 'failed', 'timed_out', 'cancelled', 'error')";

/**
 * The webhook outbox, with the same meaning as the SQLite adapter's migration 5: targets written before their
 * evaluation, and a trigger that enqueues the delivery in the transaction that moves the evaluation to a
 * terminal status (any statement that does: the compare-and-set, a claim). The trigger's insert takes no lock
 * anyone else waits for (a new row, keyed by the evaluation, which the moving statement holds locked).
 */
export const migration003: Migration = {
  version: 3,
  name: 'webhooks',
  sql: `
CREATE TABLE {schema}.evaluation_webhooks (
  evaluation_id text PRIMARY KEY,
  url           text NOT NULL,
  created_at    text NOT NULL
);
CREATE TABLE {schema}.webhook_deliveries (
  id           text    PRIMARY KEY,
  subject_kind text    NOT NULL,
  subject_id   text    NOT NULL,
  url          text    NOT NULL,
  state        text    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts     integer NOT NULL,
  due_ms       bigint,
  claimed_by   text,
  created_at   text    NOT NULL
);
CREATE INDEX webhook_deliveries_due ON {schema}.webhook_deliveries (due_ms) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subject ON {schema}.webhook_deliveries (subject_kind, subject_id);
CREATE TABLE {schema}.webhook_attempts (
  delivery_id     text    NOT NULL REFERENCES {schema}.webhook_deliveries (id) ON DELETE CASCADE,
  attempt         integer NOT NULL,
  at              text    NOT NULL,
  status_code     integer,
  error           text,
  duration_ms     integer NOT NULL,
  next_attempt_at text,
  PRIMARY KEY (delivery_id, attempt)
);
CREATE FUNCTION {schema}.enqueue_evaluation_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {schema}.webhook_deliveries
    (id, subject_kind, subject_id, url, state, attempts, due_ms, claimed_by, created_at)
  SELECT 'msg_' || w.evaluation_id, 'evaluation', w.evaluation_id, w.url, 'pending', 0, 0, NULL,
         to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  FROM {schema}.evaluation_webhooks w WHERE w.evaluation_id = NEW.id
  ON CONFLICT (id) DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER evaluations_enqueue_webhook AFTER UPDATE OF status ON {schema}.evaluations
FOR EACH ROW WHEN (NEW.status IN ${TERMINAL} AND OLD.status NOT IN ${TERMINAL})
EXECUTE FUNCTION {schema}.enqueue_evaluation_webhook();
`,
};
