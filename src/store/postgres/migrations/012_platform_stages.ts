import type { Migration } from './migration.js';

/**
 * The platform stages of an evaluation, with the same meaning as the SQLite adapter's migration 14. Version
 * 12: the numbers between 7 and 12 belong to steps written at the same time.
 */
export const migration012: Migration = {
  version: 12,
  name: 'platform_stages',
  sql: `
ALTER TABLE {schema}.evaluations ADD COLUMN platform_stages json;
`,
};
