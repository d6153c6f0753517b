import { migration001 } from './001_init.js';
import { migration002 } from './002_idempotency_keys.js';
import { migration003 } from './003_ownership.js';
import { migration004 } from './004_projects.js';
import { migration005 } from './005_webhooks.js';
import { migration006 } from './006_tokens.js';
import { migration007 } from './007_batches.js';
import { migration008 } from './008_fairness.js';
import { migration009 } from './009_usage.js';
import { migration010 } from './010_grading.js';
import { migration012 } from './012_sandboxes.js';
import { migration013 } from './013_sandbox_execs.js';
import { migration014 } from './014_platform_stages.js';
import { migration015 } from './015_fair_anonymous.js';
import { migration019 } from './019_sandbox_owner.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

/**
 * Every migration, in order. TS constants rather than `.sql` files because `tsc` does not copy assets into
 * `dist`, and the build must carry its schema.
 */
export const MIGRATIONS: readonly Migration[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
  migration009,
  migration010,
  migration012,
  migration013,
  migration014,
  migration015,
  migration019,
];

/** The highest version (versions may have gaps: see `Migration`). */
export const LATEST_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));
