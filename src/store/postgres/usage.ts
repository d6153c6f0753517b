import { TERMINAL_STATUSES } from '../../core/index.js';
import { foldUsageRows, type UsageGroup, type UsageQuery, type UsageRow, type UsageStore } from '../usage.js';
import type { Database } from './database.js';
import type { Row } from './rows.js';
import type { SchemaNames } from './sql.js';

const TERMINAL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ');
/** `result` is `json` (see migration 1): `->>` reads a field as text. */
const field = (name: string) => `(e.result ->> '${name}')::double precision`;

/** One statement per shape (by user or label, with or without a user filter), from fixed fragments only. */
function usageSql(names: SchemaNames, byLabel: boolean, forUser: boolean): string {
  const t = (table: string) => `${names.quoted}.${table}`;
  let n = 0;
  const param = () => `$${++n}`;
  const join = byLabel
    ? `LEFT JOIN ${t('evaluation_labels')} l ON l.row_order = e.row_order AND l.key = ${param()} `
    : '';
  const range = `e.finished_at >= ${param()} AND e.finished_at < ${param()}`;
  const user = forUser ? `AND e.user_name = ${param()} ` : '';
  return (
    `SELECT ${byLabel ? 'l.value' : 'e.user_name'} AS key, e.status AS status, count(*)::integer AS evaluations, ` +
    `coalesce(sum(${field('durationMs')}), 0) AS wall_ms, coalesce(sum(${field('cpuTimeMs')}), 0) AS cpu_ms, ` +
    `coalesce(sum(${field('peakMemoryBytes')} * ${field('durationMs')}), 0) AS memory_byte_ms ` +
    `FROM ${t('evaluations')} e ${join}` +
    `WHERE ${range} AND e.status IN (${TERMINAL}) ${user}` +
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

/** Usage on PostgreSQL, summed from the stored result JSON across every replica's evaluations. */
export function postgresUsage(db: Database, names: SchemaNames): UsageStore {
  const shapes = new Map<string, string>();
  const sqlFor = (byLabel: boolean, forUser: boolean): string => {
    const shape = `${byLabel}/${forUser}`;
    let sql = shapes.get(shape);
    if (sql === undefined) {
      sql = usageSql(names, byLabel, forUser);
      shapes.set(shape, sql);
    }
    return sql;
  };
  return {
    async usage(query: UsageQuery): Promise<UsageGroup[]> {
      const params: string[] = [];
      if (query.groupBy !== 'user') params.push(query.groupBy.label);
      params.push(query.from, query.to);
      if (query.user !== undefined) params.push(query.user);
      const rows = await db.query<Row>(sqlFor(query.groupBy !== 'user', query.user !== undefined), params);
      return foldUsageRows(rows.map(toUsageRow));
    },
  };
}
