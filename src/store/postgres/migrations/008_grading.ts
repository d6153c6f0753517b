import type { Migration } from './migration.js';

/** `Evaluation.grading` (files, tests, comparison options), as SQLite's migration 10; NULL for a plain one. */
export const migration008: Migration = {
  version: 8,
  name: 'grading',
  sql: `
ALTER TABLE {schema}.evaluations ADD COLUMN grading jsonb;
`,
};
