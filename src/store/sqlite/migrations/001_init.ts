import type { Migration } from './migration.js';

/**
 * The first schema. Notes on choices that are not obvious:
 * - `evaluations.row_order` is the rowid alias and AUTOINCREMENT, so "newest first" pages by an integer that
 *   is never reused (even after deletes) and survives VACUUM; `id` is the domain key, unique.
 * - `transitions.seq` is AUTOINCREMENT for the same reason: it is the SSE event id, and a reused id would make
 *   a resuming client skip events.
 * - Labels are copied into `evaluation_labels` keyed by (key, value, row_order), so `list({ label })` walks an
 *   index already in newest-first order instead of scanning JSON. Labels never change after `create`.
 * - `log_chunks` is WITHOUT ROWID: rows are read by their primary key range only.
 */
export const migration001: Migration = {
  version: 1,
  name: 'init',
  sql: `
CREATE TABLE evaluations (
  row_order     INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT    NOT NULL UNIQUE,
  status        TEXT    NOT NULL,
  language      TEXT    NOT NULL,
  code          TEXT    NOT NULL,
  stdin         TEXT    NOT NULL,
  priority      TEXT    NOT NULL,
  labels        TEXT    NOT NULL,
  limits        TEXT    NOT NULL,
  runtime       TEXT    NOT NULL,
  created_at    TEXT    NOT NULL,
  submitted_at  TEXT    NOT NULL,
  dispatched_at TEXT,
  started_at    TEXT,
  finished_at   TEXT,
  stored_at     TEXT,
  result        TEXT
);
CREATE INDEX evaluations_status ON evaluations (status, row_order);

CREATE TABLE evaluation_labels (
  key       TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  row_order INTEGER NOT NULL REFERENCES evaluations (row_order) ON DELETE CASCADE,
  PRIMARY KEY (key, value, row_order)
) WITHOUT ROWID;
CREATE INDEX evaluation_labels_row ON evaluation_labels (row_order);

CREATE TABLE transitions (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  evaluation_id TEXT    NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  from_status   TEXT,
  to_status     TEXT    NOT NULL,
  at            TEXT    NOT NULL,
  reason        TEXT
);
CREATE INDEX transitions_evaluation ON transitions (evaluation_id, seq);

CREATE TABLE log_chunks (
  evaluation_id TEXT    NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  seq           INTEGER NOT NULL,
  stream        TEXT    NOT NULL CHECK (stream IN ('stdout', 'stderr')),
  data          BLOB    NOT NULL,
  at            TEXT    NOT NULL,
  PRIMARY KEY (evaluation_id, seq)
) WITHOUT ROWID;
`,
};
