import { EVALUATION_COLUMNS } from './rows.js';

const ACTIVE = "('starting', 'running')";
/** A queued evaluation claimed with `hold`: its run waits for an outside admission (Kueue) and holds a slot. */
const HELD = "(status = 'queued' AND owner IS NOT NULL)";

/** Every fixed statement of the adapter, in one place so the schema and its queries are reviewed together. */
export const SQL = {
  insertEvaluation:
    'INSERT INTO evaluations (id, status, language, code, stdin, priority, labels, limits, runtime, created_at, ' +
    'submitted_at, dispatched_at, started_at, finished_at, stored_at, result, submitted_ms, project, user_name) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING row_order',
  insertLabel: 'INSERT INTO evaluation_labels (key, value, row_order) VALUES (?, ?, ?)',
  // Only for submissions with files or tests, so a plain insert stays the statement it was.
  setGrading: 'UPDATE evaluations SET grading = ? WHERE row_order = ?',
  insertTransition:
    'INSERT INTO transitions (evaluation_id, from_status, to_status, at, reason) VALUES (?, ?, ?, ?, ?) ' +
    'RETURNING seq',
  // The `AND status = ?` is the compare-and-set: zero changed rows means another writer moved it first. A NULL
  // owner keeps the stored one (only a claim sets it).
  casUpdate:
    'UPDATE evaluations SET status = ?, runtime = ?, dispatched_at = ?, started_at = ?, finished_at = ?, ' +
    'stored_at = ?, result = ?, platform_stages = ?, owner = COALESCE(?, owner) WHERE id = ? AND status = ?',
  // What the global limit counts: every run holding a slot somewhere.
  countActive: `SELECT COUNT(*) AS n FROM evaluations WHERE status IN ${ACTIVE} OR ${HELD}`,
  // A claim with `hold`: owned, still queued, no transition. The row is one the claim just read, unowned.
  holdQueued: "UPDATE evaluations SET owner = ? WHERE id = ? AND status = 'queued' AND owner IS NULL",
  // Active and held evaluations of the users with a `maxRunning` (JSON array), off `evaluations_user_active`.
  activeByUser:
    'SELECT user_name, COUNT(*) AS n FROM evaluations WHERE user_name IN (SELECT value FROM json_each(?)) ' +
    `AND user_name IS NOT NULL AND (status IN ${ACTIVE} OR ${HELD}) GROUP BY user_name`,
  queueCounts:
    `SELECT status, priority, ${HELD} AS held, COUNT(*) AS n FROM evaluations ` +
    "WHERE status IN ('queued', 'starting', 'running') GROUP BY status, priority, held",
  // Owners with a live lease come as a JSON array; everything active or held owned by anyone else is an
  // orphan (a held row always has an owner).
  listOrphans:
    `SELECT ${EVALUATION_COLUMNS} FROM evaluations e WHERE (e.status IN ${ACTIVE} OR ${HELD}) ` +
    'AND (e.owner IS NULL OR e.owner NOT IN (SELECT value FROM json_each(?))) ORDER BY e.row_order',
  listOwned:
    `SELECT ${EVALUATION_COLUMNS} FROM evaluations e ` +
    'WHERE e.owner = ? AND e.status IN (SELECT value FROM json_each(?)) ORDER BY e.row_order',
  // `IS` compares NULL with NULL as equal: rows from before ownership can be taken over too.
  transferOwnership: 'UPDATE evaluations SET owner = ? WHERE id = ? AND owner IS ?',
  getById: `SELECT ${EVALUATION_COLUMNS} FROM evaluations e WHERE e.id = ?`,
  listByStatus:
    `SELECT ${EVALUATION_COLUMNS} FROM evaluations e ` +
    'WHERE e.status IN (SELECT value FROM json_each(?)) ORDER BY e.row_order',
  transitionsAfter:
    'SELECT seq, evaluation_id, from_status, to_status, at, reason FROM transitions ' +
    'WHERE seq > ? ORDER BY seq LIMIT ?',
  latestTransitionSeq: 'SELECT COALESCE(MAX(seq), 0) AS seq FROM transitions',
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
  insertProject:
    'INSERT INTO projects (id, name, namespace, limits, egress, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  getProject: 'SELECT id, name, namespace, limits, egress, created_at FROM projects WHERE id = ?',
  listProjects: 'SELECT id, name, namespace, limits, egress, created_at FROM projects ORDER BY row_order',
  deleteProject: 'DELETE FROM projects WHERE id = ?',
  readLogsOfStream:
    'SELECT evaluation_id, seq, stream, data, at FROM log_chunks ' +
    'WHERE evaluation_id = ? AND seq > ? AND stream = ? ORDER BY seq LIMIT ?',
} as const;

/**
 * One of the list queries, picked by which filters are present. Only fixed fragments are joined; every value
 * is a `?` parameter, returned alongside in matching order. With a label, the walk starts from the
 * (key, value, row_order) primary key of `evaluation_labels`, already newest-first.
 */
export function listQuery(filter: {
  readonly status: string | undefined;
  readonly label: { readonly key: string; readonly value: string } | undefined;
  readonly project?: string | undefined;
  readonly user?: string | undefined;
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
  if (filter.project !== undefined) {
    sql += ' AND e.project = ?';
    params.push(filter.project);
  }
  if (filter.user !== undefined) {
    sql += ' AND e.user_name = ?';
    params.push(filter.user);
  }
  // Order by the column the walk starts from, so SQLite reads the index backwards instead of sorting.
  sql += filter.label ? ' ORDER BY l.row_order DESC LIMIT ?' : ' ORDER BY e.row_order DESC LIMIT ?';
  params.push(filter.limit);
  return { sql, params };
}
