import { migration001 } from './001_init.js';
import { migration002 } from './002_projects.js';
import { migration003 } from './003_webhooks.js';
import { migration004 } from './004_tokens.js';
import { migration005 } from './005_batches.js';
import { migration006 } from './006_fairness.js';
import { migration007 } from './007_usage.js';
import { migration008 } from './008_grading.js';
import { migration010 } from './010_sandboxes.js';
import { migration011 } from './011_sandbox_execs.js';
import { migration012 } from './012_platform_stages.js';
import { migration013 } from './013_fair_anonymous.js';
import { migration017 } from './017_sandbox_owner.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

/** Every migration, in order; TS constants so `tsc` carries them into `dist`. */
export const MIGRATIONS: readonly Migration[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
  migration010,
  migration011,
  migration012,
  migration013,
  migration017,
];

/** The highest version (versions may have gaps: see `Migration`). */
export const LATEST_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));
