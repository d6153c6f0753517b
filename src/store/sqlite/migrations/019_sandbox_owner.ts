import type { Migration } from './migration.js';

/**
 * The replica running a sandbox's live instance (issue 11, several replicas): others forward its calls there.
 * Version 19: 16–18 are left to other steps written at the same time (the runner applies every step not
 * recorded, gaps included).
 */
export const migration019: Migration = {
  version: 19,
  name: 'sandbox_owner',
  sql: `
ALTER TABLE sandboxes ADD COLUMN owner TEXT;
`,
};
