import type { Migration } from './migration.js';

/**
 * The anonymous queued rows (no user: authentication off, or system submissions) in fair order, on their own:
 * when users at their `maxRunning` hold most of the queue, the claim takes each other user's head off
 * `evaluations_fair_user` and the anonymous rows' off this index, instead of reading `evaluations_fair` past
 * every blocked row (src/store/sqlite/fair-candidates.ts). Version 15: 10–14 are other steps written at the
 * same time (the runner applies every step not recorded, gaps included).
 */
export const migration015: Migration = {
  version: 15,
  name: 'fair_anonymous',
  sql: `
CREATE INDEX evaluations_fair_anonymous ON evaluations (priority, fair_tag, row_order)
  WHERE status = 'queued' AND user_name IS NULL;
`,
};
