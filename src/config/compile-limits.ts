// No zod here: `crucible serve --help` and the client commands load this file through the CLI bundle.
import { findLanguage, type CompileLimitOverrides, type CompileLimits } from '../core/index.js';
import type { ServerConfigInput } from './config.js';

/** What each compile limit may be set to (docs/languages.md, "Compilation"). */
const RANGES: Readonly<Record<keyof CompileLimits, readonly [number, number]>> = {
  timeoutSeconds: [1, 3600],
  memoryMb: [16, 1_048_576],
  maxProcesses: [1, 100_000],
  tmpSizeMb: [1, 1_048_576],
  buildSizeMb: [1, 1_048_576],
};

/**
 * One `--compile-limits` entry, `LANG:KEY=VALUE[,KEY=VALUE…]` (e.g. `java:memoryMb=2048,timeoutSeconds=60`),
 * as the language id and the limits it sets. Throws an Error saying what is wrong.
 */
export function parseCompileLimitsEntry(entry: string): { id: string; limits: Partial<CompileLimits> } {
  const colon = entry.indexOf(':');
  const id = entry.slice(0, Math.max(0, colon)).trim();
  const language = findLanguage(id);
  if (colon < 0 || !language) {
    throw new Error(`"${entry}": expected LANG:KEY=VALUE[,KEY=VALUE…] with LANG a language id`);
  }
  if (!language.compile) throw new Error(`"${entry}": ${id} does not compile`);
  const limits: Record<string, number> = {};
  for (const pair of entry.slice(colon + 1).split(',')) {
    const [key = '', value = ''] = pair.split('=').map((part) => part.trim());
    const range = RANGES[key as keyof CompileLimits];
    if (!range) throw new Error(`"${entry}": unknown limit "${key}" (${Object.keys(RANGES).join(', ')})`);
    const n = Number(value);
    if (value === '' || !Number.isInteger(n) || n < range[0] || n > range[1]) {
      throw new Error(`"${entry}": ${key} must be an integer from ${range[0]} to ${range[1]}`);
    }
    limits[key] = n;
  }
  return { id, limits };
}

/** The entries folded per language, later ones winning key by key. */
export function foldCompileLimits(entries: readonly string[]): CompileLimitOverrides {
  const out: Record<string, Partial<CompileLimits>> = {};
  for (const entry of entries) {
    const { id, limits } = parseCompileLimitsEntry(entry);
    out[id] = { ...out[id], ...limits };
  }
  return out;
}

/** `CRUCIBLE_COMPILE_LIMITS`: entries separated by `;` (an entry's own limits are comma-separated). */
export function compileLimitsFromEnv(value: string | undefined): string[] | undefined {
  const entries = value
    ?.split(';')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries && entries.length > 0 ? entries : undefined;
}

export const COMPILE_LIMITS_SERVE_OPTIONS = [
  {
    flags: '--compile-limits <lang:key=value,…>',
    description:
      'override a compiled language’s compile limits (timeoutSeconds, memoryMb, maxProcesses, tmpSizeMb, buildSizeMb), repeatable, e.g. java:memoryMb=2048,timeoutSeconds=60 (env CRUCIBLE_COMPILE_LIMITS, entries separated by ;)',
    collect: { initial: [], add: (value: string, previous: unknown) => [...(previous as string[]), value] },
  },
] as const;

/** Flags over the environment: given flags replace the environment's entries. */
export function withCompileLimitsFlags(
  input: ServerConfigInput,
  flags: Readonly<Record<string, unknown>>,
): ServerConfigInput {
  const entries = (flags['compileLimits'] as string[] | undefined) ?? [];
  return entries.length > 0 ? { ...input, compileLimits: entries } : input;
}
