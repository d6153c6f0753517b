import type { Migration } from './migration.js';

/**
 * The anonymous queued rows in fair order, on their own, as the SQLite adapter's migration 15: when users at
 * their `maxRunning` hold most of the queue, the claim takes each other user's head and the anonymous rows'
 * head instead of reading past every blocked row (`../fair-claim.ts`). Version 13: 8–12 are other steps
 * written at the same time (the runner applies every step not recorded, gaps included).
 */
export const migration013: Migration = {
  version: 13,
  name: 'fair_anonymous',
  sql: `
CREATE INDEX evaluations_fair_anonymous ON {schema}.evaluations (priority, fair_tag, row_order)
  WHERE status = 'queued' AND user_name IS NULL;
`,
};
