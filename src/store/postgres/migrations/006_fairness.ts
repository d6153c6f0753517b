import type { Migration } from './migration.js';
import { FAIR_QUANTUM } from '../../../core/fairness.js';

/**
 * Fair share between users, with the same meaning as the SQLite adapter's migration 8 (docs/scheduling.md).
 * The tag is set by a BEFORE INSERT trigger, which sees the rows an earlier part of the same statement
 * inserted (a batch's items each move the clock). The upsert on the user's clock row runs under that row's
 * lock, so two replicas inserting for one user at once still get distinct, increasing tags. Version 6: 7 is
 * the usage step, written at the same time; the runner applies whichever is missing.
 */
export const migration006: Migration = {
  version: 6,
  name: 'fairness',
  sql: `
ALTER TABLE {schema}.evaluations ADD COLUMN fair_tag bigint;
UPDATE {schema}.evaluations SET fair_tag = submitted_ms WHERE status = 'queued';
CREATE TABLE {schema}.fair_clocks (
  user_name text   NOT NULL,
  priority  text   NOT NULL,
  last_tag  bigint NOT NULL,
  PRIMARY KEY (user_name, priority)
);
CREATE TABLE {schema}.fair_virtual_time (
  priority text   PRIMARY KEY,
  v        bigint NOT NULL
);
CREATE INDEX evaluations_fair ON {schema}.evaluations (priority, fair_tag, row_order) WHERE status = 'queued';
CREATE INDEX evaluations_fair_user ON {schema}.evaluations (user_name, priority, fair_tag)
  WHERE status = 'queued' AND user_name IS NOT NULL;
CREATE INDEX evaluations_user_submitted ON {schema}.evaluations (user_name, submitted_ms)
  WHERE user_name IS NOT NULL;
CREATE INDEX evaluations_user_active ON {schema}.evaluations (user_name)
  WHERE user_name IS NOT NULL AND (status IN ('starting', 'running') OR (status = 'queued' AND owner IS NOT NULL));
CREATE FUNCTION {schema}.stamp_fair_tag() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  virtual_time bigint;
  backlog boolean;
BEGIN
  IF NEW.user_name IS NULL THEN
    NEW.fair_tag := NEW.submitted_ms;
    RETURN NEW;
  END IF;
  SELECT v INTO virtual_time FROM {schema}.fair_virtual_time WHERE priority = NEW.priority;
  virtual_time := COALESCE(virtual_time, NEW.submitted_ms);
  backlog := EXISTS (SELECT 1 FROM {schema}.evaluations q WHERE q.user_name = NEW.user_name
                     AND q.priority = NEW.priority AND q.status = 'queued');
  INSERT INTO {schema}.fair_clocks AS c (user_name, priority, last_tag)
  VALUES (NEW.user_name, NEW.priority, virtual_time)
  ON CONFLICT (user_name, priority) DO UPDATE SET last_tag = CASE
    WHEN backlog THEN GREATEST(EXCLUDED.last_tag, c.last_tag + ${FAIR_QUANTUM}) ELSE EXCLUDED.last_tag END
  RETURNING last_tag INTO NEW.fair_tag;
  RETURN NEW;
END
$$;
CREATE TRIGGER evaluations_fair_tag BEFORE INSERT ON {schema}.evaluations
FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION {schema}.stamp_fair_tag();
CREATE FUNCTION {schema}.advance_fair_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {schema}.fair_virtual_time AS t (priority, v) VALUES (NEW.priority, NEW.fair_tag)
  ON CONFLICT (priority) DO UPDATE SET v = GREATEST(t.v, EXCLUDED.v);
  RETURN NULL;
END
$$;
CREATE TRIGGER evaluations_fair_served AFTER UPDATE OF status, owner ON {schema}.evaluations
FOR EACH ROW WHEN (OLD.status = 'queued' AND OLD.owner IS NULL AND NEW.fair_tag IS NOT NULL
  AND (NEW.status IN ('starting', 'running') OR (NEW.status = 'queued' AND NEW.owner IS NOT NULL)))
EXECUTE FUNCTION {schema}.advance_fair_time();
`,
};
