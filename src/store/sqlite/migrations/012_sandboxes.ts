import type { Migration } from './migration.js';

/**
 * Interactive sandboxes (docs/sandboxes.md) and the Idempotency-Keys of their creation and execs, scoped
 * like evaluations' (`scope` = the caller's, plus the sandbox for an exec). `sandboxes_user` serves a
 * user's list newest first and the quota count.
 */
export const migration012: Migration = {
  version: 12,
  name: 'sandboxes',
  sql: `
CREATE TABLE sandboxes (
  row_order            INTEGER PRIMARY KEY AUTOINCREMENT,
  id                   TEXT NOT NULL UNIQUE,
  user_name            TEXT,
  project              TEXT,
  language             TEXT NOT NULL,
  status               TEXT NOT NULL,
  memory_mb            INTEGER NOT NULL,
  workspace_mb         INTEGER NOT NULL,
  idle_timeout_seconds INTEGER NOT NULL,
  max_lifetime_seconds INTEGER,
  labels               TEXT NOT NULL,
  env                  TEXT NOT NULL,
  runtime              TEXT NOT NULL,
  snapshot_key         TEXT,
  snapshot_bytes       INTEGER,
  error                TEXT,
  created_at           TEXT NOT NULL,
  last_active_at       TEXT NOT NULL,
  hibernated_at        TEXT,
  terminated_at        TEXT
);
CREATE INDEX sandboxes_user ON sandboxes (user_name, status);
CREATE TABLE sandbox_idempotency_keys (
  scope       TEXT NOT NULL,
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  target_id   TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (scope, key)
);
`,
};
