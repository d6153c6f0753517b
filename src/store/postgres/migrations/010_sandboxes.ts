import type { Migration } from './migration.js';

/**
 * Interactive sandboxes (docs/sandboxes.md) and the Idempotency-Keys of their creation and execs, scoped
 * like evaluations' (`scope` = the caller's, plus the sandbox for an exec). `sandboxes_user` serves a
 * user's list newest first and the quota count.
 */
export const migration010: Migration = {
  version: 10,
  name: 'sandboxes',
  sql: `
CREATE TABLE {schema}.sandboxes (
  row_order            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id                   text NOT NULL UNIQUE,
  user_name            text,
  project              text,
  language             text NOT NULL,
  status               text NOT NULL,
  memory_mb            integer NOT NULL,
  workspace_mb         integer NOT NULL,
  idle_timeout_seconds integer NOT NULL,
  max_lifetime_seconds integer,
  labels               text NOT NULL,
  env                  text NOT NULL,
  runtime              text NOT NULL,
  snapshot_key         text,
  snapshot_bytes       integer,
  error                text,
  created_at           text NOT NULL,
  last_active_at       text NOT NULL,
  hibernated_at        text,
  terminated_at        text
);
CREATE INDEX sandboxes_user ON {schema}.sandboxes (user_name, status);
CREATE TABLE {schema}.sandbox_idempotency_keys (
  scope       text NOT NULL,
  key         text NOT NULL,
  fingerprint text NOT NULL,
  target_id   text NOT NULL,
  created_at  text NOT NULL,
  PRIMARY KEY (scope, key)
);
`,
};
