import type { Migration } from './migration.js';

/**
 * Projects, and the project of each evaluation, with the same meaning as the SQLite adapter's migration 4.
 * `evaluations.project` has no foreign key on purpose: deleting a project keeps its evaluations as history.
 */
export const migration002: Migration = {
  version: 2,
  name: 'projects',
  sql: `
CREATE TABLE {schema}.projects (
  row_order  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         text  NOT NULL UNIQUE,
  name       text  NOT NULL,
  namespace  text  NOT NULL,
  limits     jsonb NOT NULL,
  egress     jsonb NOT NULL,
  created_at text  NOT NULL,
  CONSTRAINT projects_name_key UNIQUE (name)
);
ALTER TABLE {schema}.evaluations ADD COLUMN project text;
CREATE INDEX evaluations_project ON {schema}.evaluations (project, row_order) WHERE project IS NOT NULL;
`,
};
