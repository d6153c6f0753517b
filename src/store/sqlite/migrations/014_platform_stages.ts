import type { Migration } from './migration.js';

/**
 * The platform stages of an evaluation (`PlatformStages`: Job created, pod scheduled, container started and
 * finished) as one JSON object, written with the `started` and terminal transitions. NULL on rows of a
 * backend without such stages and on rows stored before this step. Version 14: the numbers between 9 and 14
 * belong to steps written at the same time; the runner applies every step not recorded.
 */
export const migration014: Migration = {
  version: 14,
  name: 'platform_stages',
  sql: `
ALTER TABLE evaluations ADD COLUMN platform_stages TEXT;
`,
};
