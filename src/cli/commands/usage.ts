import type { UsageItem, UsageQuery, UsageReport } from '../../client/index.js';
import { table } from '../../format/table.js';
import { UsageError, type CommandSpec, type Flags } from '../parser.js';
import { clientOf } from './client-of.js';

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `-7d`, `-12h`, `-30m`, `-2w`: that long before `now`; `now`: now; anything else goes to the server as it is
 * (ISO 8601 with a zone, or a date), which names the flag's field in its 400 when it is neither.
 */
export function timeOf(text: string, now: Date): string {
  if (text === 'now') return now.toISOString();
  const relative = /^-(\d+)([mhdw])$/.exec(text);
  if (!relative) return text;
  return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2]!]!).toISOString();
}

function queryOf(flags: Flags, now: Date): UsageQuery {
  const by = flags.by ?? 'user';
  if (typeof by !== 'string' || (by !== 'user' && !/^label:./.test(by))) {
    throw new UsageError('error: --by is user or label:KEY');
  }
  const time = (key: 'from' | 'to') =>
    typeof flags[key] === 'string' ? { [key]: timeOf(flags[key], now) } : {};
  return { ...time('from'), ...time('to'), groupBy: by as UsageQuery['groupBy'] };
}

const seconds = (n: number) => n.toFixed(1);

/** The report as a table: one row per group, then the totals. */
export function usageTable(report: UsageReport): string {
  const by = report.groupBy === 'user' ? 'USER' : report.groupBy.slice('label:'.length).toUpperCase();
  const header = [by, 'EVALS', 'OK', 'FAILED', 'TIMEOUT', 'CANCEL', 'ERROR', 'WALL s', 'CPU s', 'MEM MiB·s'];
  const row = (key: string, u: Omit<UsageItem, 'key'>) => [
    key,
    String(u.evaluations),
    String(u.byStatus.succeeded),
    String(u.byStatus.failed),
    String(u.byStatus.timed_out),
    String(u.byStatus.cancelled),
    String(u.byStatus.error),
    seconds(u.wallSeconds),
    seconds(u.cpuSeconds),
    seconds(u.memoryMbSeconds),
  ];
  const total = report.items.reduce(
    (sum, u) => ({
      evaluations: sum.evaluations + u.evaluations,
      byStatus: {
        succeeded: sum.byStatus.succeeded + u.byStatus.succeeded,
        failed: sum.byStatus.failed + u.byStatus.failed,
        timed_out: sum.byStatus.timed_out + u.byStatus.timed_out,
        cancelled: sum.byStatus.cancelled + u.byStatus.cancelled,
        error: sum.byStatus.error + u.byStatus.error,
      },
      wallSeconds: sum.wallSeconds + u.wallSeconds,
      cpuSeconds: sum.cpuSeconds + u.cpuSeconds,
      memoryMbSeconds: sum.memoryMbSeconds + u.memoryMbSeconds,
    }),
    {
      evaluations: 0,
      byStatus: { succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, error: 0 },
      wallSeconds: 0,
      cpuSeconds: 0,
      memoryMbSeconds: 0,
    },
  );
  const rows = report.items.map((u) => row(u.key ?? '(none)', u));
  return table([header, ...rows, row('TOTAL', total)]);
}

/** `crucible usage`: `GET /v1/usage` as a table with totals (users see their own, admins everyone's). */
export const usageCommand: CommandSpec = {
  name: 'usage',
  description: 'wall, CPU and memory × time of finished evaluations, by user or label',
  options: [
    {
      flags: '--from <time>',
      description: 'ISO 8601 time or date, or -7d/-12h/-30m/-2w (default: a week before --to)',
    },
    { flags: '--to <time>', description: 'ISO 8601 time or date, or -1d, or now (default: now)' },
    { flags: '--by <group>', description: 'user (default) or label:KEY' },
    { flags: '--json', description: 'print the report as JSON' },
  ],
  helpAfter:
    '\nCounts evaluations that finished in [from, to); at most 366 days. MEM MiB·s is peak memory × wall time,\n' +
    'an upper bound (see docs/usage.md). Examples:\n  crucible usage\n  crucible usage --from -30d --by label:team\n' +
    '  crucible usage --from 2026-03-01 --to 2026-04-01 --json\n',
  run: async (_args, flags) => {
    const report = await clientOf(flags).usage(queryOf(flags, new Date()));
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `evaluations finished from ${report.from} to ${report.to}, by ${report.groupBy}\n${usageTable(report)}\n`,
    );
  },
};
