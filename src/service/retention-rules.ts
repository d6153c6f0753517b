import type { PruneScope, RetentionMatch } from '../store/retention.js';

/**
 * Per-label and per-user retention (docs/retention.md, "Rules"): `label:KEY=VALUE=AGE` or `user:NAME=AGE`,
 * AGE a duration (`7d`) or `forever`. An evaluation matched by rules is kept for the longest of their ages
 * (keeping is the safe side when rules disagree); one matched by none, for the default (`--retention`, or
 * `olderThan` of one prune); with no default, it is kept.
 */
export interface RetentionRule {
  /** As written, e.g. `label:team=a=7d`. */
  readonly text: string;
  readonly match: RetentionMatch;
  /** Null: kept forever. */
  readonly ageMs: number | null;
}

/** One query of a prune: evaluations matched by `only` (or by no rule), none matched by a rule in `except`. */
export interface PrunePass {
  /** The rule, or null for the default pass. */
  readonly rule: string | null;
  readonly ageMs: number;
  readonly scope: PruneScope;
}

const DURATION = /^([1-9][0-9]*)(s|m|h|d|w)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const LABEL_PART = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;
const VALUE_PART = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

function ageOf(text: string): number | null | undefined {
  if (text === 'forever') return null;
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return Number.isSafeInteger(ms) ? ms : undefined;
}

const USAGE = 'a retention rule is label:KEY=VALUE=AGE or user:NAME=AGE, AGE such as 7d, 12h or forever';

/**
 * Parses one rule; throws an error naming the rule and the expected form.
 *
 * @example
 * parseRetentionRule('label:team=a=7d'); // { match: { kind: 'label', key: 'team', value: 'a' }, ageMs: 604800000 }
 */
export function parseRetentionRule(text: string): RetentionRule {
  const fail = (why: string) => new Error(`--retention-for ${JSON.stringify(text)}: ${why} (${USAGE})`);
  const cut = text.lastIndexOf('=');
  if (cut < 0) throw fail('no =AGE');
  const ageMs = ageOf(text.slice(cut + 1));
  if (ageMs === undefined) throw fail(`${JSON.stringify(text.slice(cut + 1))} is not an age`);
  const subject = text.slice(0, cut);
  if (subject.startsWith('user:')) {
    const user = subject.slice('user:'.length);
    if (user === '' || user.length > 200) throw fail('the user name is empty or too long');
    return { text, match: { kind: 'user', user }, ageMs };
  }
  if (subject.startsWith('label:')) {
    const pair = subject.slice('label:'.length);
    const eq = pair.indexOf('=');
    const [key, value] = eq < 0 ? [pair, undefined] : [pair.slice(0, eq), pair.slice(eq + 1)];
    if (value === undefined || !LABEL_PART.test(key) || !VALUE_PART.test(value)) {
      throw fail('the label must be KEY=VALUE in Kubernetes label syntax');
    }
    return { text, match: { kind: 'label', key, value }, ageMs };
  }
  throw fail('it must start with label: or user:');
}

/**
 * The queries that together delete exactly the evaluations past their age: one per rule with an age (its
 * evaluations not matched by a rule keeping them longer), and the default's (those matched by no rule).
 */
export function prunePasses(rules: readonly RetentionRule[], defaultAgeMs: number | undefined): PrunePass[] {
  const longer = (ageMs: number) =>
    rules.filter((other) => other.ageMs === null || other.ageMs > ageMs).map((other) => other.match);
  const passes: PrunePass[] = [];
  for (const rule of rules) {
    if (rule.ageMs === null) continue;
    passes.push({
      rule: rule.text,
      ageMs: rule.ageMs,
      scope: { only: rule.match, except: longer(rule.ageMs) },
    });
  }
  if (defaultAgeMs !== undefined) {
    passes.push({ rule: null, ageMs: defaultAgeMs, scope: { except: rules.map((rule) => rule.match) } });
  }
  return passes;
}
