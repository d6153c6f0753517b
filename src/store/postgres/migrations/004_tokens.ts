import type { Migration } from './migration.js';

/** API tokens and the user of each evaluation, with the same meaning as the SQLite adapter's migration 6. */
export const migration004: Migration = {
  version: 4,
  name: 'tokens',
  sql: `
CREATE TABLE {schema}.api_tokens (
  row_order       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id              text    NOT NULL,
  secret_hash     text    NOT NULL,
  user_name       text    NOT NULL,
  admin           boolean NOT NULL,
  max_running     integer,
  max_queued      integer,
  rate_per_minute integer,
  created_at      text    NOT NULL,
  CONSTRAINT api_tokens_id_key UNIQUE (id),
  CONSTRAINT api_tokens_secret_hash_key UNIQUE (secret_hash)
);
ALTER TABLE {schema}.evaluations ADD COLUMN user_name text;
CREATE INDEX evaluations_user ON {schema}.evaluations (user_name, row_order) WHERE user_name IS NOT NULL;
`,
};
