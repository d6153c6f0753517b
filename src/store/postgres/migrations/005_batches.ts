import type { Migration } from './migration.js';

const TERMINAL = "('succeeded', 'failed', 'timed_out', 'cancelled', 'error')";

/**
 * Batches, with the same meaning as the SQLite adapter's migration 7. The trigger's `UPDATE … RETURNING`
 * takes the batch row's lock and reads its latest committed `remaining` (READ COMMITTED re-reads a row it
 * waited for), so of two replicas ending a batch's last two evaluations at once exactly one sees zero and
 * enqueues the webhook, in its own transaction. Lock order stays evaluation rows → counter → batch row (row
 * triggers of the transition statement fire at its end), and only transactions holding the counter lock a
 * batch row, so nothing waits in a cycle. Version 5: 4 is the users and tokens step, written at the same time.
 */
export const migration005: Migration = {
  version: 5,
  name: 'batches',
  sql: `
CREATE TABLE {schema}.batches (
  id                text    PRIMARY KEY,
  total             integer NOT NULL,
  remaining         integer NOT NULL,
  labels            jsonb   NOT NULL,
  webhook_url       text,
  user_name         text,
  created_at        text    NOT NULL,
  done_at           text,
  idempotency_scope text,
  idempotency_key   text,
  fingerprint       text
);
CREATE UNIQUE INDEX batches_idempotency ON {schema}.batches (idempotency_scope, idempotency_key);
ALTER TABLE {schema}.evaluations ADD COLUMN batch_id text;
CREATE INDEX evaluations_batch ON {schema}.evaluations (batch_id, row_order) WHERE batch_id IS NOT NULL;
CREATE FUNCTION {schema}.count_batch_progress() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  left_over integer;
  target text;
BEGIN
  UPDATE {schema}.batches SET remaining = remaining - 1,
    done_at = CASE WHEN remaining = 1
      THEN to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ELSE done_at END
  WHERE id = NEW.batch_id
  RETURNING remaining, webhook_url INTO left_over, target;
  IF left_over = 0 AND target IS NOT NULL THEN
    INSERT INTO {schema}.webhook_deliveries
      (id, subject_kind, subject_id, url, state, attempts, due_ms, claimed_by, created_at)
    VALUES ('msg_batch_' || NEW.batch_id, 'batch', NEW.batch_id, target, 'pending', 0, 0, NULL,
            to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    ON CONFLICT (id) DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER evaluations_batch_progress AFTER UPDATE OF status ON {schema}.evaluations
FOR EACH ROW WHEN (NEW.batch_id IS NOT NULL AND NEW.status IN ${TERMINAL} AND OLD.status NOT IN ${TERMINAL})
EXECUTE FUNCTION {schema}.count_batch_progress();
`,
};
