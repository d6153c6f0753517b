import { FAIR_QUANTUM } from '../../../core/fairness.js';
import type { Migration } from './migration.js';

/**
 * Fair share between users (docs/scheduling.md): start-time fair queuing per priority.
 *
 * - `fair_tag` orders the queue within a priority. The trigger stamps it in the inserting transaction (a
 *   single create or a whole batch: no insert statement has to know): an evaluation without a user keeps
 *   `submitted_ms` (authentication off: FIFO exactly as before); a user's gets `max(V, clock + quantum)` while
 *   that user has work queued at that priority, else `V`, where V is the priority's virtual time (the tag of
 *   the last evaluation claimed there) and clock the user's last tag there.
 * - `fair_clocks` keeps each user's last tag per priority, `fair_virtual_time` the V of each priority; a
 *   second trigger advances V when a claim takes a row (dispatched, or held for an admission).
 * - `evaluations_fair` serves the claim (per priority, in tag order); `evaluations_fair_user` the backlog
 *   probe and the `maxQueued` count; `evaluations_user_submitted` the `ratePerMinute` window;
 *   `evaluations_user_active` the `maxRunning` count. Queued rows from before keep FIFO (tag = submitted_ms).
 * Version 8: 9 is the usage step, written at the same time; the runner applies whichever is missing.
 */
export const migration008: Migration = {
  version: 8,
  name: 'fairness',
  sql: `
ALTER TABLE evaluations ADD COLUMN fair_tag INTEGER;
UPDATE evaluations SET fair_tag = submitted_ms WHERE status = 'queued';
CREATE TABLE fair_clocks (
  user_name TEXT NOT NULL,
  priority  TEXT NOT NULL,
  last_tag  INTEGER NOT NULL,
  PRIMARY KEY (user_name, priority)
) WITHOUT ROWID;
CREATE TABLE fair_virtual_time (
  priority TEXT PRIMARY KEY,
  v        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX evaluations_fair ON evaluations (priority, fair_tag, row_order) WHERE status = 'queued';
CREATE INDEX evaluations_fair_user ON evaluations (user_name, priority, fair_tag)
  WHERE status = 'queued' AND user_name IS NOT NULL;
CREATE INDEX evaluations_user_submitted ON evaluations (user_name, submitted_ms) WHERE user_name IS NOT NULL;
CREATE INDEX evaluations_user_active ON evaluations (user_name)
  WHERE user_name IS NOT NULL AND (status IN ('starting', 'running') OR (status = 'queued' AND owner IS NOT NULL));
CREATE TRIGGER evaluations_fair_tag_anonymous AFTER INSERT ON evaluations
WHEN NEW.status = 'queued' AND NEW.user_name IS NULL
BEGIN
  UPDATE evaluations SET fair_tag = NEW.submitted_ms WHERE row_order = NEW.row_order;
END;
CREATE TRIGGER evaluations_fair_tag AFTER INSERT ON evaluations
WHEN NEW.status = 'queued' AND NEW.user_name IS NOT NULL
BEGIN
  INSERT INTO fair_clocks (user_name, priority, last_tag)
  SELECT NEW.user_name, NEW.priority,
         COALESCE((SELECT v FROM fair_virtual_time WHERE priority = NEW.priority), NEW.submitted_ms)
  WHERE true
  ON CONFLICT (user_name, priority) DO UPDATE SET last_tag = CASE
    WHEN EXISTS (SELECT 1 FROM evaluations q WHERE q.user_name = NEW.user_name AND q.priority = NEW.priority
                 AND q.status = 'queued' AND q.row_order <> NEW.row_order)
    THEN MAX(excluded.last_tag, fair_clocks.last_tag + ${FAIR_QUANTUM})
    ELSE excluded.last_tag END;
  UPDATE evaluations SET fair_tag = (SELECT last_tag FROM fair_clocks
    WHERE user_name = NEW.user_name AND priority = NEW.priority) WHERE row_order = NEW.row_order;
END;
CREATE TRIGGER evaluations_fair_served AFTER UPDATE OF status, owner ON evaluations
WHEN OLD.status = 'queued' AND OLD.owner IS NULL AND NEW.fair_tag IS NOT NULL
  AND (NEW.status IN ('starting', 'running') OR (NEW.status = 'queued' AND NEW.owner IS NOT NULL))
BEGIN
  INSERT INTO fair_virtual_time (priority, v) VALUES (NEW.priority, NEW.fair_tag)
  ON CONFLICT (priority) DO UPDATE SET v = MAX(v, excluded.v);
END;
`,
};
