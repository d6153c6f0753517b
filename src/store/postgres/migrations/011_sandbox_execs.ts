import type { Migration } from './migration.js';

/**
 * Each exec of a sandbox and its output, kept like evaluation logs (chunks numbered per exec) so
 * `GET /v1/sandboxes/{id}/execs/{execId}/logs?after=SEQ` replays it after a disconnect and after the sandbox
 * is gone.
 */
export const migration011: Migration = {
  version: 11,
  name: 'sandbox_execs',
  sql: `
CREATE TABLE {schema}.sandbox_execs (
  row_order   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id          text NOT NULL UNIQUE,
  sandbox_id  text NOT NULL,
  argv        text NOT NULL,
  status      text NOT NULL,
  exit        text,
  started_at  text NOT NULL,
  finished_at text
);
CREATE INDEX sandbox_execs_sandbox ON {schema}.sandbox_execs (sandbox_id, row_order);
CREATE INDEX sandbox_execs_running ON {schema}.sandbox_execs (status) WHERE status = 'running';
CREATE TABLE {schema}.sandbox_exec_logs (
  exec_id text NOT NULL,
  seq     integer NOT NULL,
  stream  text NOT NULL,
  data    bytea NOT NULL,
  PRIMARY KEY (exec_id, seq)
);
`,
};
