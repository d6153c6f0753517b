import type { Migration } from './migration.js';

/**
 * The finished-at index of usage reports, with the same meaning as the SQLite adapter's migration 9.
 * Version 7: 6 is the fair-share step, written at the same time.
 */
export const migration007: Migration = {
  version: 7,
  name: 'usage',
  sql: `
CREATE INDEX evaluations_finished ON {schema}.evaluations (finished_at) WHERE finished_at IS NOT NULL;
`,
};
