import type { Migration } from './migration.js';

/**
 * Each exec of a sandbox and its output, kept like evaluation logs (chunks numbered per exec) so
 * `GET /v1/sandboxes/{id}/execs/{execId}/logs?after=SEQ` replays it after a disconnect and after the sandbox
 * is gone.
 */
export const migration013: Migration = {
  version: 13,
  name: 'sandbox_execs',
  sql: `
CREATE TABLE sandbox_execs (
  row_order   INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT NOT NULL UNIQUE,
  sandbox_id  TEXT NOT NULL,
  argv        TEXT NOT NULL,
  status      TEXT NOT NULL,
  exit        TEXT,
  started_at  TEXT NOT NULL,
  finished_at TEXT
);
CREATE INDEX sandbox_execs_sandbox ON sandbox_execs (sandbox_id, row_order);
CREATE INDEX sandbox_execs_running ON sandbox_execs (status) WHERE status = 'running';
CREATE TABLE sandbox_exec_logs (
  exec_id TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  stream  TEXT NOT NULL,
  data    BLOB NOT NULL,
  PRIMARY KEY (exec_id, seq)
) WITHOUT ROWID;
`,
};
