import type { Migration } from './migration.js';

/** Idempotency keys of submissions: a retried POST with the same key (same caller) finds the first one. */
export const migration002: Migration = {
  version: 2,
  name: 'idempotency_keys',
  sql: `
CREATE TABLE idempotency_keys (
  scope         TEXT NOT NULL,
  key           TEXT NOT NULL,
  fingerprint   TEXT NOT NULL,
  evaluation_id TEXT NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  created_at    TEXT NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_evaluation ON idempotency_keys (evaluation_id);
`,
};
