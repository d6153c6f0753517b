import { PRIORITIES, priorityRank } from '../../core/index.js';

/** The schema every table lives in, and the notification channel of that schema. */
export interface SchemaNames {
  readonly schema: string;
  /** The schema as a quoted identifier, ready to prefix a table. */
  readonly quoted: string;
  readonly channel: string;
}

/** Lower-case identifiers only, short enough that the channel name stays under PostgreSQL's 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/** @throws Error on a schema name that would need escaping or would make the channel name too long */
export function schemaNames(schema: string): SchemaNames {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `PostgreSQL schema "${schema}" is not a plain lower-case identifier of at most 48 characters`,
    );
  }
  return { schema, quoted: `"${schema}"`, channel: `crucible_${schema}` };
}

export const EVALUATION_COLUMNS =
  'e.row_order, e.id, e.status, e.language, e.code, e.stdin, e.priority, e.labels, e.limits, e.runtime, ' +
  'e.created_at, e.submitted_at, e.dispatched_at, e.started_at, e.finished_at, e.stored_at, e.result, e.owner, e.project, e.user_name, ' +
  'e.platform_stages, e.grading';

const TRANSITION_COLUMNS = 'seq, evaluation_id, from_status, to_status, at, reason';

const ACTIVE = "('starting', 'running')";
/** A queued evaluation claimed with `hold`: its run waits for an outside admission (Kueue) and holds a slot. */
const HELD = "(status = 'queued' AND owner IS NOT NULL)";

/** Every fixed statement of the adapter for one schema; only fixed fragments and the schema name go in. */
export function statements(names: SchemaNames) {
  const t = (table: string) => `${names.quoted}.${table}`;
  return {
    findIdempotencyKey: `SELECT evaluation_id, fingerprint FROM ${t('idempotency_keys')} WHERE scope = $1 AND key = $2`,
    getById: `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluations')} e WHERE e.id = $1`,
    listByStatus:
      `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluations')} e WHERE e.status = ANY($1::text[]) ` +
      'ORDER BY e.row_order',
    transitionsAfter: `SELECT ${TRANSITION_COLUMNS} FROM ${t('transitions')} WHERE seq > $1 ORDER BY seq LIMIT $2`,
    // The counter holds the last seq handed out, and it is only ever advanced by a committing transaction.
    latestTransitionSeq: `SELECT last_seq FROM ${t('transition_counter')}`,
    transitionsOf: `SELECT ${TRANSITION_COLUMNS} FROM ${t('transitions')} WHERE evaluation_id = $1 ORDER BY seq`,
    // Notifies once per evaluation that got new chunks (none for a retry whose chunks were all stored).
    insertLogs:
      `WITH inserted AS (INSERT INTO ${t('log_chunks')} (evaluation_id, seq, stream, data, at) ` +
      'SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::bytea[], $5::text[]) ' +
      'ON CONFLICT (evaluation_id, seq) DO NOTHING RETURNING evaluation_id) ' +
      'SELECT pg_notify($6, evaluation_id) FROM (SELECT DISTINCT evaluation_id FROM inserted) d',
    // NULL limit is LIMIT ALL.
    readLogs:
      `SELECT evaluation_id, seq, stream, data, at FROM ${t('log_chunks')} ` +
      'WHERE evaluation_id = $1 AND seq > $2 AND ($3::text IS NULL OR stream = $3) ORDER BY seq LIMIT $4',
    claimCandidates: claimSql(t),
    // Active and held evaluations of the users with a `maxRunning`, off `evaluations_user_active`.
    activeByUser:
      `SELECT user_name, count(*)::integer AS n FROM ${t('evaluations')} WHERE user_name = ANY($1::text[]) ` +
      `AND user_name IS NOT NULL AND (status IN ${ACTIVE} OR ${HELD}) GROUP BY user_name`,
    queueCounts:
      `SELECT status, priority, ${HELD} AS held, count(*)::integer AS n FROM ${t('evaluations')} ` +
      "WHERE status IN ('queued', 'starting', 'running') GROUP BY status, priority, held",
    // A claim with `hold`: owned, still queued, no transition. The rows are locked by the claim, unowned.
    holdQueued:
      `UPDATE ${t('evaluations')} SET owner = $1 WHERE id = ANY($2::text[]) ` +
      "AND status = 'queued' AND owner IS NULL RETURNING id",
    // Leases that lapsed an hour ago are deleted on the way, so names of replicas long gone do not pile up.
    renewLease:
      `WITH lapsed AS (DELETE FROM ${t('replica_leases')} ` +
      "WHERE expires_at < now() - interval '1 hour' AND replica <> $1) " +
      `INSERT INTO ${t('replica_leases')} (replica, expires_at) ` +
      "VALUES ($1, now() + $2::double precision * interval '1 millisecond') " +
      'ON CONFLICT (replica) DO UPDATE SET expires_at = EXCLUDED.expires_at',
    dropLease: `DELETE FROM ${t('replica_leases')} WHERE replica = $1`,
    advertiseReplica: `UPDATE ${t('replica_leases')} SET url = $2 WHERE replica = $1`,
    liveReplica: `SELECT url FROM ${t('replica_leases')} WHERE replica = $1 AND expires_at > now()`,
    listOrphans:
      `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluations')} e WHERE (e.status IN ${ACTIVE} OR ${HELD}) ` +
      `AND NOT EXISTS (SELECT 1 FROM ${t('replica_leases')} l ` +
      'WHERE l.replica = e.owner AND l.expires_at > now()) ORDER BY e.row_order',
    listOwned:
      `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluations')} e ` +
      'WHERE e.owner = $1 AND e.status = ANY($2::text[]) ORDER BY e.row_order',
    transferOwnership: `UPDATE ${t('evaluations')} SET owner = $3 WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 RETURNING id`,
    list: (filter: ListFilter) => listSql(t, filter),
    insertProject:
      `INSERT INTO ${t('projects')} (id, name, namespace, limits, egress, created_at) ` +
      'VALUES ($1, $2, $3, $4, $5, $6)',
    getProject: `SELECT id, name, namespace, limits, egress, created_at FROM ${t('projects')} WHERE id = $1`,
    listProjects: `SELECT id, name, namespace, limits, egress, created_at FROM ${t('projects')} ORDER BY row_order`,
    deleteProject: `DELETE FROM ${t('projects')} WHERE id = $1 RETURNING id`,
  };
}

export type Statements = ReturnType<typeof statements>;

export interface ListFilter {
  readonly status: boolean;
  readonly label: boolean;
  readonly project?: boolean;
  readonly user?: boolean;
}

/**
 * One of the list queries, by which filters are present. Parameters in order: before (row_order), limit,
 * then status if filtered, then label key and value if filtered, then project, then user, if filtered. With a label,
 * the walk starts from the (key, value, row_order) primary key of `evaluation_labels`, already newest-first.
 */
function listSql(t: (table: string) => string, filter: ListFilter): string {
  const conditions = ['e.row_order < $1'];
  if (filter.status) conditions.push('e.status = $3');
  const next = 3 + (filter.status ? 1 : 0) + (filter.label ? 2 : 0);
  if (filter.project) conditions.push(`e.project = $${next}`);
  if (filter.user) conditions.push(`e.user_name = $${next + (filter.project ? 1 : 0)}`);
  if (filter.label) {
    const key = filter.status ? 4 : 3;
    conditions.push(`l.key = $${key}`, `l.value = $${key + 1}`);
    return (
      `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluation_labels')} l ` +
      `JOIN ${t('evaluations')} e ON e.row_order = l.row_order ` +
      `WHERE ${conditions.join(' AND ')} AND l.row_order < $1 ORDER BY l.row_order DESC LIMIT $2`
    );
  }
  return (
    `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluations')} e WHERE ${conditions.join(' AND ')} ` +
    'ORDER BY e.row_order DESC LIMIT $2'
  );
}

/**
 * Each priority's next unowned queued evaluations in fair order (`fair_tag`, then creation), locked, with the
 * room left under both limits computed in the same statement (held rows, queued with an owner, count against
 * the global limit and are passed over). Each priority's first `room` rows come straight off the partial index
 * `evaluations_fair`, so the cost does not grow with the queue; rows of users at their `maxRunning` are left
 * out. Each priority's rows are locked `FOR NO KEY UPDATE SKIP LOCKED` in its own CTE (a locking clause is not
 * allowed in a UNION): a row a concurrent cancel is writing is skipped, not waited for. The merge across
 * priorities (by aging) is `mergeByAging`, in JS; the rows it does not take are released at COMMIT, unchanged.
 * Parameters: $1 row_orders to leave out (already fetched in this claim), $2 claims still allowed by `max`,
 * $3 by `globalConcurrency` (both less what this claim already took), $4 users at their `maxRunning`.
 */
function claimSql(t: (table: string) => string): string {
  const perPriority = PRIORITIES.map(
    (priority) =>
      `${priority} AS (SELECT ${EVALUATION_COLUMNS}, e.fair_tag, ${priorityRank(priority)} AS rank ` +
      `FROM ${t('evaluations')} e WHERE e.status = 'queued' AND e.owner IS NULL ` +
      `AND e.priority = '${priority}' AND e.row_order <> ALL($1::bigint[]) ` +
      'AND (e.user_name IS NULL OR e.user_name <> ALL($4::text[])) ORDER BY e.fair_tag, e.row_order ' +
      'LIMIT (SELECT n FROM room) FOR NO KEY UPDATE SKIP LOCKED)',
  );
  return (
    'WITH room AS MATERIALIZED (SELECT GREATEST(0, LEAST($2::bigint, $3::bigint - ' +
    `(SELECT count(*) FROM ${t('evaluations')} WHERE status IN ${ACTIVE} OR ${HELD})))::integer AS n), ` +
    `${perPriority.join(', ')} ` +
    `SELECT q.*, (SELECT n FROM room) AS room FROM (${PRIORITIES.map((p) => `SELECT * FROM ${p}`).join(' UNION ALL ')}) q ` +
    'ORDER BY q.rank, q.fair_tag, q.row_order'
  );
}
