import type { Migration } from './migration.js';

/**
 * The replica running a sandbox's live instance, and each replica's internal URL on its lease row (issue 11,
 * several replicas: a call reaching another replica is forwarded to the owner's URL while its lease lives).
 * Version 17: 14–16 are left to other steps written at the same time (the runner applies every step not
 * recorded, gaps included).
 */
export const migration017: Migration = {
  version: 17,
  name: 'sandbox_owner',
  sql: `
ALTER TABLE {schema}.sandboxes ADD COLUMN owner TEXT;
ALTER TABLE {schema}.replica_leases ADD COLUMN url TEXT;
`,
};
