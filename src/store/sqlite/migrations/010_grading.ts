import type { Migration } from './migration.js';

/**
 * The extra files, test cases and comparison options of a submission (`Evaluation.grading`, JSON), NULL for a
 * plain one: rows written before keep reading as plain evaluations. Version 10 (other steps written at the
 * same time took other numbers; the runner applies every step not recorded).
 */
export const migration010: Migration = {
  version: 10,
  name: 'grading',
  sql: `
ALTER TABLE evaluations ADD COLUMN grading TEXT;
`,
};
