import type { Migration } from './migration.js';

/**
 * Projects, and the project of each evaluation. `evaluations.project` has no foreign key on purpose: deleting
 * a project keeps its evaluations as history, still naming it. `evaluations_project` serves `list({ project })`
 * newest first, as `evaluations_status` does for statuses.
 */
export const migration004: Migration = {
  version: 4,
  name: 'projects',
  sql: `
CREATE TABLE projects (
  row_order  INTEGER PRIMARY KEY AUTOINCREMENT,
  id         TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL UNIQUE,
  namespace  TEXT NOT NULL,
  limits     TEXT NOT NULL,
  egress     TEXT NOT NULL,
  created_at TEXT NOT NULL
);
ALTER TABLE evaluations ADD COLUMN project TEXT;
CREATE INDEX evaluations_project ON evaluations (project, row_order) WHERE project IS NOT NULL;
`,
};
