import type { Migration } from './migration.js';

/**
 * The whole first schema, with the same meaning as the SQLite adapter's migrations 1-3. Notes on choices:
 * - Timestamps are `text` holding the ISO strings the core wrote, as in SQLite: they come back exactly as
 *   written (a `timestamptz` would rewrite `…:00Z` as `…:00.000Z`). `submitted_ms` is the integer the queue
 *   order adds `rank × agingMs` to; `evaluations_queue` holds only queued rows, FIFO per priority.
 * - `stdin` is `bytea` (UTF-8): PostgreSQL `text` cannot hold NUL, which stdin may contain. `result` is `json`,
 *   not `jsonb`, for the same reason (a message may carry `\u0000`); labels and limits are plain `jsonb`.
 * - `transitions.seq` is not a sequence: `transition_counter` hands seqs out in commit order (see
 *   `../transitions.ts`), so a reader of `transitionsAfter(n)` never skips a late commit.
 * - `replica_leases.expires_at` is computed by the database clock only (`now() + ttl`).
 */
export const migration001: Migration = {
  version: 1,
  name: 'init',
  sql: `
CREATE TABLE {schema}.evaluations (
  row_order     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id            text   NOT NULL UNIQUE,
  status        text   NOT NULL,
  language      text   NOT NULL,
  code          text   NOT NULL,
  stdin         bytea  NOT NULL,
  priority      text   NOT NULL,
  labels        jsonb  NOT NULL,
  limits        jsonb  NOT NULL,
  runtime       text   NOT NULL,
  created_at    text   NOT NULL,
  submitted_at  text   NOT NULL,
  submitted_ms  bigint NOT NULL,
  dispatched_at text,
  started_at    text,
  finished_at   text,
  stored_at     text,
  result        json,
  owner         text
);
CREATE INDEX evaluations_status ON {schema}.evaluations (status, row_order);
CREATE INDEX evaluations_status_owner ON {schema}.evaluations (status, owner, row_order);
CREATE INDEX evaluations_queue ON {schema}.evaluations (priority, submitted_ms, row_order)
  WHERE status = 'queued';

CREATE TABLE {schema}.evaluation_labels (
  key       text   NOT NULL,
  value     text   NOT NULL,
  row_order bigint NOT NULL REFERENCES {schema}.evaluations (row_order) ON DELETE CASCADE,
  PRIMARY KEY (key, value, row_order)
);
CREATE INDEX evaluation_labels_row ON {schema}.evaluation_labels (row_order);

CREATE TABLE {schema}.transitions (
  seq           bigint PRIMARY KEY,
  evaluation_id text   NOT NULL REFERENCES {schema}.evaluations (id) ON DELETE CASCADE,
  from_status   text,
  to_status     text   NOT NULL,
  at            text   NOT NULL,
  reason        text
);
CREATE INDEX transitions_evaluation ON {schema}.transitions (evaluation_id, seq);

CREATE TABLE {schema}.transition_counter (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  last_seq bigint  NOT NULL
);
INSERT INTO {schema}.transition_counter (last_seq) VALUES (0);

CREATE TABLE {schema}.log_chunks (
  evaluation_id text    NOT NULL REFERENCES {schema}.evaluations (id) ON DELETE CASCADE,
  seq           integer NOT NULL,
  stream        text    NOT NULL CHECK (stream IN ('stdout', 'stderr')),
  data          bytea   NOT NULL,
  at            text    NOT NULL,
  PRIMARY KEY (evaluation_id, seq)
);

CREATE TABLE {schema}.idempotency_keys (
  scope         text NOT NULL,
  key           text NOT NULL,
  fingerprint   text NOT NULL,
  evaluation_id text NOT NULL REFERENCES {schema}.evaluations (id) ON DELETE CASCADE,
  created_at    text NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_evaluation ON {schema}.idempotency_keys (evaluation_id);

CREATE TABLE {schema}.replica_leases (
  replica    text        PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
`,
};
