import { TERMINAL_STATUSES, type TerminalStatus, type UsageGroupBy } from '../core/index.js';

export type { UsageGroupBy } from '../core/index.js';

/**
 * Resource usage of finished evaluations, summed in the database (conformance: `test/store/conformance-usage.ts`).
 * What each figure means and its limits: docs/usage.md.
 */

export interface UsageQuery {
  /** Evaluations that finished at or after this instant (ISO 8601, as `toISOString` writes it)… */
  readonly from: string;
  /** …and before this one. */
  readonly to: string;
  readonly groupBy: UsageGroupBy;
  /** Only this user's evaluations (a non-admin caller's own usage). */
  readonly user?: string;
}

export interface UsageGroup {
  /**
   * The user or the label's value; null for evaluations with none (submitted while authentication was off,
   * or without that label).
   */
  readonly key: string | null;
  readonly evaluations: number;
  /** Evaluations per terminal status; every terminal status is present, zeros included. */
  readonly byStatus: Readonly<Record<TerminalStatus, number>>;
  /** Sum of each run's wall time (its result's `durationMs`: started → finished), in seconds. */
  readonly wallSeconds: number;
  /** Sum of each run's CPU time (user + system) as its backend measured it, in seconds. */
  readonly cpuSeconds: number;
  /** Sum over runs of peak memory (MiB) × wall seconds: an upper bound of the memory held over time. */
  readonly memoryMbSeconds: number;
}

export interface UsageStore {
  /** One group per key, ordered by key (null last); only terminal evaluations with `finishedAt` in [from, to). */
  usage(query: UsageQuery): Promise<UsageGroup[]>;
}

/** One row of the adapters' aggregate: sums per (key, status). */
export interface UsageRow {
  readonly key: string | null;
  readonly status: string;
  readonly evaluations: number;
  readonly wallMs: number;
  readonly cpuMs: number;
  /** Σ peakMemoryBytes × durationMs. */
  readonly memoryByteMs: number;
}

const MIB = 1024 * 1024;

/** Three decimals: sums of milliseconds stay exact, and float noise from the products does not show. */
function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function emptyByStatus(): Record<TerminalStatus, number> {
  const counts = {} as Record<TerminalStatus, number>;
  for (const status of TERMINAL_STATUSES) counts[status] = 0;
  return counts;
}

/** Both adapters' rows folded into groups the same way, ordered by key with null last. */
export function foldUsageRows(rows: readonly UsageRow[]): UsageGroup[] {
  const groups = new Map<
    string | null,
    {
      evaluations: number;
      byStatus: Record<TerminalStatus, number>;
      wallMs: number;
      cpuMs: number;
      memoryByteMs: number;
    }
  >();
  for (const row of rows) {
    let group = groups.get(row.key);
    if (!group) {
      group = { evaluations: 0, byStatus: emptyByStatus(), wallMs: 0, cpuMs: 0, memoryByteMs: 0 };
      groups.set(row.key, group);
    }
    group.evaluations += row.evaluations;
    group.byStatus[row.status as TerminalStatus] =
      (group.byStatus[row.status as TerminalStatus] ?? 0) + row.evaluations;
    group.wallMs += row.wallMs;
    group.cpuMs += row.cpuMs;
    group.memoryByteMs += row.memoryByteMs;
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1))
    .map(([key, g]) => ({
      key,
      evaluations: g.evaluations,
      byStatus: g.byStatus,
      wallSeconds: round3(g.wallMs / 1000),
      cpuSeconds: round3(g.cpuMs / 1000),
      memoryMbSeconds: round3(g.memoryByteMs / MIB / 1000),
    }));
}
