import type { Migration } from './migration.js';

/**
 * Usage reports (`../../usage.ts`) read terminal evaluations by when they finished; this index keeps that a
 * range scan instead of a scan of every evaluation. Partial: unfinished rows are never asked for. No columns:
 * the figures are summed from the stored result JSON. Version 9: 8 is the fair-share step, written at the
 * same time (the runner applies every step not recorded, gaps included).
 */
export const migration009: Migration = {
  version: 9,
  name: 'usage',
  sql: `
CREATE INDEX evaluations_finished ON evaluations (finished_at) WHERE finished_at IS NOT NULL;
`,
};
