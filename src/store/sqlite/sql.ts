import { EVALUATION_COLUMNS } from './rows.js';

/** Every fixed statement of the adapter, in one place so the schema and its queries are reviewed together. */
export const SQL = {
  insertEvaluation:
    'INSERT INTO evaluations (id, status, language, code, stdin, priority, labels, limits, runtime, created_at, ' +
    'submitted_at, dispatched_at, started_at, finished_at, stored_at, result) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING row_order',
  insertLabel: 'INSERT INTO evaluation_labels (key, value, row_order) VALUES (?, ?, ?)',
  insertTransition:
    'INSERT INTO transitions (evaluation_id, from_status, to_status, at, reason) VALUES (?, ?, ?, ?, ?) ' +
    'RETURNING seq',
  // The `AND status = ?` is the compare-and-set: zero changed rows means another writer moved it first.
  casUpdate:
    'UPDATE evaluations SET status = ?, runtime = ?, dispatched_at = ?, started_at = ?, finished_at = ?, ' +
    'stored_at = ?, result = ? WHERE id = ? AND status = ?',
  getById: `SELECT ${EVALUATION_COLUMNS} FROM evaluations e WHERE e.id = ?`,
  listByStatus:
    `SELECT ${EVALUATION_COLUMNS} FROM evaluations e ` +
    'WHERE e.status IN (SELECT value FROM json_each(?)) ORDER BY e.row_order',
  transitionsAfter:
    'SELECT seq, evaluation_id, from_status, to_status, at, reason FROM transitions ' +
    'WHERE seq > ? ORDER BY seq LIMIT ?',
  transitionsOf:
    'SELECT seq, evaluation_id, from_status, to_status, at, reason FROM transitions ' +
    'WHERE evaluation_id = ? ORDER BY seq',
  insertIdempotencyKey:
    'INSERT INTO idempotency_keys (scope, key, fingerprint, evaluation_id, created_at) VALUES (?, ?, ?, ?, ?)',
  findIdempotencyKey: 'SELECT evaluation_id, fingerprint FROM idempotency_keys WHERE scope = ? AND key = ?',
  insertLog:
    'INSERT INTO log_chunks (evaluation_id, seq, stream, data, at) VALUES (?, ?, ?, ?, ?) ' +
    'ON CONFLICT (evaluation_id, seq) DO NOTHING',
  readLogs:
    'SELECT evaluation_id, seq, stream, data, at FROM log_chunks ' +
    'WHERE evaluation_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  readLogsOfStream:
    'SELECT evaluation_id, seq, stream, data, at FROM log_chunks ' +
    'WHERE evaluation_id = ? AND seq > ? AND stream = ? ORDER BY seq LIMIT ?',
} as const;

/**
 * One of four list queries, picked by which filters are present. Only fixed fragments are joined; every value
 * is a `?` parameter, returned alongside in matching order. With a label, the walk starts from the
 * (key, value, row_order) primary key of `evaluation_labels`, already newest-first.
 */
export function listQuery(filter: {
  readonly status: string | undefined;
  readonly label: { readonly key: string; readonly value: string } | undefined;
  readonly before: number;
  readonly limit: number;
}): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  let sql: string;
  if (filter.label) {
    sql =
      `SELECT ${EVALUATION_COLUMNS} FROM evaluation_labels l JOIN evaluations e ON e.row_order = l.row_order ` +
      'WHERE l.key = ? AND l.value = ? AND l.row_order < ?';
    params.push(filter.label.key, filter.label.value, filter.before);
  } else {
    sql = `SELECT ${EVALUATION_COLUMNS} FROM evaluations e WHERE e.row_order < ?`;
    params.push(filter.before);
  }
  if (filter.status !== undefined) {
    sql += ' AND e.status = ?';
    params.push(filter.status);
  }
  // Order by the column the walk starts from, so SQLite reads the index backwards instead of sorting.
  sql += filter.label ? ' ORDER BY l.row_order DESC LIMIT ?' : ' ORDER BY e.row_order DESC LIMIT ?';
  params.push(filter.limit);
  return { sql, params };
}
