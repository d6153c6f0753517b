import { PRIORITIES, priorityRank, type Priority } from '../../core/index.js';
import { PROBE_SLACK } from '../fair-order.js';
import { EVALUATION_COLUMNS } from './sql.js';

const ACTIVE = "('starting', 'running')";
const HELD = "(status = 'queued' AND owner IS NOT NULL)";
const QUEUED = "e.status = 'queued' AND e.owner IS NULL";
const ROOM = '(SELECT n FROM room)';

/**
 * The claim's candidates when some users are at their `maxRunning` ($4 not empty): the same rows, order,
 * locks and parameters as `claimSql`, without reading the blocked users' rows one by one (a user at their
 * limit with 100,000 queued made every claim read them all: 51 ms per claim). Per priority:
 * - a probe reads at most `room + PROBE_SLACK` entries of `evaluations_fair` and keeps the unblocked ones;
 * - only when that is not enough (the probe was full of blocked rows), each other queued user's head off
 *   `evaluations_fair_user` (the users found by a skip scan, one index probe each) and the anonymous rows'
 *   off `evaluations_fair_anonymous` are merged in fair order: O(users × log n). A one-time filter keeps that
 *   part from running at all otherwise.
 * The picked rows are then locked `FOR NO KEY UPDATE SKIP LOCKED`, as in `claimSql`. Written so that even
 * a generic plan (prepared statements) stays on the indexes: the skip scan orders by `evaluations_fair_user`'s
 * own columns (a plain ORDER BY user_name picked an index of every row of the user, finished ones included), and
 * the picked rows are fetched by `= ANY (ARRAY(…))` (an IN over the picks planned a sequential scan).
 */
export function blockedClaimSql(t: (table: string) => string): string {
  const users =
    'users(name) AS (' +
    `(SELECT user_name FROM ${t('evaluations')} WHERE status = 'queued' AND user_name IS NOT NULL ` +
    'ORDER BY user_name, priority, fair_tag LIMIT 1) UNION ALL ' +
    `SELECT (SELECT q.user_name FROM ${t('evaluations')} q WHERE q.status = 'queued' ` +
    'AND q.user_name IS NOT NULL AND q.user_name > u.name ORDER BY q.user_name, q.priority, q.fair_tag LIMIT 1) ' +
    'FROM users u WHERE u.name IS NOT NULL)';
  const perPriority = PRIORITIES.map((priority) => priorityCtes(t, priority));
  return (
    'WITH RECURSIVE room AS MATERIALIZED (SELECT GREATEST(0, LEAST($2::bigint, $3::bigint - ' +
    `(SELECT count(*) FROM ${t('evaluations')} WHERE status IN ${ACTIVE} OR ${HELD})))::integer AS n), ` +
    `${users}, ${perPriority.join(', ')} ` +
    `SELECT q.*, ${ROOM} AS room FROM (${PRIORITIES.map((p) => `SELECT * FROM ${p}`).join(' UNION ALL ')}) q ` +
    'ORDER BY q.rank, q.fair_tag, q.row_order'
  );
}

function priorityCtes(t: (table: string) => string, priority: Priority): string {
  const p = priority;
  const own = `e.priority = '${p}' AND e.row_order <> ALL($1::bigint[])`;
  const ordered = `ORDER BY e.fair_tag, e.row_order LIMIT ${ROOM}`;
  return [
    `${p}_probe AS MATERIALIZED (SELECT e.row_order, e.user_name FROM ${t('evaluations')} e ` +
      `WHERE ${QUEUED} AND ${own} ORDER BY e.fair_tag, e.row_order LIMIT ${ROOM} + ${PROBE_SLACK})`,
    `${p}_fast AS MATERIALIZED (SELECT row_order FROM ${p}_probe ` +
      `WHERE user_name IS NULL OR user_name <> ALL($4::text[]) LIMIT ${ROOM})`,
    `${p}_slow AS MATERIALIZED (SELECT (SELECT count(*) FROM ${p}_fast) < ${ROOM} ` +
      `AND (SELECT count(*) FROM ${p}_probe) >= ${ROOM} + ${PROBE_SLACK} AS needed)`,
    `${p}_heads AS (SELECT x.row_order, x.fair_tag FROM users u CROSS JOIN LATERAL (` +
      `SELECT e.row_order, e.fair_tag FROM ${t('evaluations')} e WHERE ${QUEUED} AND e.user_name = u.name ` +
      `AND ${own} ${ordered}) x WHERE (SELECT needed FROM ${p}_slow) AND u.name IS NOT NULL ` +
      'AND u.name <> ALL($4::text[]) UNION ALL ' +
      `(SELECT e.row_order, e.fair_tag FROM ${t('evaluations')} e WHERE (SELECT needed FROM ${p}_slow) ` +
      `AND ${QUEUED} AND e.user_name IS NULL AND ${own} ${ordered}))`,
    `${p} AS (SELECT ${EVALUATION_COLUMNS}, e.fair_tag, ${priorityRank(p)} AS rank ` +
      `FROM ${t('evaluations')} e WHERE ${QUEUED} AND e.row_order = ANY (ARRAY(` +
      `SELECT row_order FROM ${p}_fast UNION ALL ` +
      `(SELECT row_order FROM ${p}_heads ORDER BY fair_tag, row_order LIMIT ${ROOM}))) ` +
      `${ordered} FOR NO KEY UPDATE SKIP LOCKED)`,
  ].join(', ');
}
