import type { Migration } from './migration.js';

/**
 * API tokens (see `../../tokens.ts`) and the user of each evaluation. `secret_hash` is the SHA-256 of the
 * token, never the token; its unique index is the look-up of every authenticated request. `user_name` is NULL
 * for evaluations submitted while authentication was off (and for every one from before this migration);
 * `evaluations_user` serves `list({ user })` newest first, as `evaluations_project` does for projects.
 */
export const migration006: Migration = {
  version: 6,
  name: 'tokens',
  sql: `
CREATE TABLE api_tokens (
  row_order       INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  secret_hash     TEXT NOT NULL UNIQUE,
  user_name       TEXT NOT NULL,
  admin           INTEGER NOT NULL CHECK (admin IN (0, 1)),
  max_running     INTEGER,
  max_queued      INTEGER,
  rate_per_minute INTEGER,
  created_at      TEXT NOT NULL
);
ALTER TABLE evaluations ADD COLUMN user_name TEXT;
CREATE INDEX evaluations_user ON evaluations (user_name, row_order) WHERE user_name IS NOT NULL;
`,
};
