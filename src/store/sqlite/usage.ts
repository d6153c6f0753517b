import { TERMINAL_STATUSES } from '../../core/index.js';
import { foldUsageRows, type UsageGroup, type UsageQuery, type UsageRow, type UsageStore } from '../usage.js';
import type { Row } from './rows.js';
import type { StatementCache } from './statements.js';

const TERMINAL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ');
const field = (name: string) => `json_extract(e.result, '$.${name}')`;

/**
 * One statement per shape (by user or label, with or without a user filter), from fixed fragments only.
 * TOTAL, not SUM: SUM of integers fails on overflow, and bytes × ms overflows soon enough to matter.
 */
function usageSql(byLabel: boolean, forUser: boolean): string {
  return (
    `SELECT ${byLabel ? 'l.value' : 'e.user_name'} AS key, e.status AS status, COUNT(*) AS evaluations, ` +
    `TOTAL(${field('durationMs')}) AS wall_ms, TOTAL(${field('cpuTimeMs')}) AS cpu_ms, ` +
    `TOTAL(1.0 * ${field('peakMemoryBytes')} * ${field('durationMs')}) AS memory_byte_ms ` +
    'FROM evaluations e ' +
    (byLabel ? 'LEFT JOIN evaluation_labels l ON l.row_order = e.row_order AND l.key = ? ' : '') +
    `WHERE e.finished_at >= ? AND e.finished_at < ? AND e.status IN (${TERMINAL}) ` +
    (forUser ? 'AND e.user_name = ? ' : '') +
    'GROUP BY 1, 2'
  );
}

function toUsageRow(row: Row): UsageRow {
  return {
    key: row['key'] === null ? null : String(row['key']),
    status: String(row['status']),
    evaluations: Number(row['evaluations']),
    wallMs: Number(row['wall_ms']),
    cpuMs: Number(row['cpu_ms']),
    memoryByteMs: Number(row['memory_byte_ms']),
  };
}

/** Usage on SQLite, summed from the stored result JSON. */
export function sqliteUsage(statements: StatementCache): UsageStore {
  return {
    async usage(query: UsageQuery): Promise<UsageGroup[]> {
      const byLabel = query.groupBy !== 'user';
      const params: string[] = [];
      if (query.groupBy !== 'user') params.push(query.groupBy.label);
      params.push(query.from, query.to);
      if (query.user !== undefined) params.push(query.user);
      const rows = statements.get(usageSql(byLabel, query.user !== undefined)).all(...params);
      return foldUsageRows(rows.map(toUsageRow));
    },
  };
}
