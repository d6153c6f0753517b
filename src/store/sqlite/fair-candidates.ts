import { PRIORITIES, priorityRank, type Priority } from '../../core/index.js';
import { PROBE_SLACK, mergeUserHeads, type FairCandidate, type PriorityRows } from '../fair-order.js';
import { EVALUATION_COLUMNS, toEvaluationRow, type Row } from './rows.js';
import type { StatementCache } from './statements.js';

/** What one claim page asks for: `room` rows per priority, past `skip`, without `blocked` users' rows. */
export interface FairPage {
  readonly room: number;
  /** Row orders `dispatch` left queued earlier in this claim. */
  readonly skip: readonly number[];
  /** Users at their `maxRunning`. */
  readonly blocked: readonly string[];
}

const QUEUED = "e.status = 'queued' AND e.owner IS NULL";
const SKIP = 'AND e.row_order NOT IN (SELECT value FROM json_each(:skip)) ';

/**
 * Each priority's next queued rows in fair order (`fair_tag`, then creation), up to `room`, by rank (high
 * first): the claim's candidates, merged across priorities by `mergeByAging`.
 *
 * Without blocked users, one read of the partial index `evaluations_fair` per priority. With some, their rows
 * must be passed over without being read one by one: a user at their limit with 100,000 queued made every
 * claim read all of them (214 ms per claim on SQLite). So a probe reads at most `room + PROBE_SLACK` index
 * entries; when those run out before `room` rows of unblocked users are found, the rows come instead from
 * each unblocked user's own head (`evaluations_fair_user`) and the anonymous rows' (`evaluations_fair_anonymous`),
 * found by a skip scan over the queued users: O(users × log n), whatever the blocked users hold.
 */
export function fairCandidates(statements: StatementCache, page: FairPage): PriorityRows[] {
  return [...PRIORITIES]
    .sort((a, b) => priorityRank(a) - priorityRank(b))
    .map((priority) => candidatesOf(statements, priority, page));
}

function candidatesOf(statements: StatementCache, priority: Priority, page: FairPage): PriorityRows {
  const skip = page.skip.length > 0;
  const params = { room: page.room, ...(skip ? { skip: JSON.stringify(page.skip) } : {}) };
  if (page.blocked.length === 0) {
    return rowsOf(statements.get(inOrderSql(priority, skip)).all(params), page.room);
  }
  const blocked = new Set(page.blocked);
  const scan = page.room + PROBE_SLACK;
  const probed = statements
    .get(probeSql(priority, skip))
    .all({ scan, ...(skip ? { skip: params.skip } : {}) });
  const chosen = probed
    .filter((row) => row['user_name'] === null || !blocked.has(String(row['user_name'])))
    .slice(0, page.room)
    .map((row) => Number(row['row_order']));
  if (chosen.length === page.room || probed.length < scan) {
    const rows = chosen.length === 0 ? [] : statements.get(BY_ROW_ORDER).all(JSON.stringify(chosen));
    return rowsOf(rows, page.room);
  }
  const heads: Row[][] = [statements.get(anonymousSql(priority, skip)).all(params)];
  for (const { name } of statements.get(QUEUED_USERS).all() as { name: string }[]) {
    if (blocked.has(name)) continue;
    heads.push(statements.get(userSql(priority, skip)).all({ ...params, user: name }));
  }
  return rowsOf(mergeUserHeads(heads, page.room), page.room);
}

function rowsOf(rows: readonly Row[], room: number): PriorityRows {
  const candidates: FairCandidate[] = rows.map(toEvaluationRow);
  return { rows: candidates, truncated: candidates.length >= room };
}

function inOrderSql(priority: Priority, skip: boolean): string {
  return (
    `SELECT ${EVALUATION_COLUMNS} FROM evaluations e WHERE ${QUEUED} AND e.priority = '${priority}' ` +
    (skip ? SKIP : '') +
    'ORDER BY e.fair_tag, e.row_order LIMIT :room'
  );
}

/** The first `scan` entries of the priority's fair order: just enough to see whose they are. */
function probeSql(priority: Priority, skip: boolean): string {
  return (
    `SELECT e.row_order, e.user_name FROM evaluations e WHERE ${QUEUED} AND e.priority = '${priority}' ` +
    (skip ? SKIP : '') +
    'ORDER BY e.fair_tag, e.row_order LIMIT :scan'
  );
}

const BY_ROW_ORDER =
  `SELECT ${EVALUATION_COLUMNS}, e.fair_tag AS fair_tag FROM evaluations e ` +
  'WHERE e.row_order IN (SELECT value FROM json_each(?)) ORDER BY e.fair_tag, e.row_order';

function userSql(priority: Priority, skip: boolean): string {
  return (
    `SELECT ${EVALUATION_COLUMNS}, e.fair_tag AS fair_tag FROM evaluations e INDEXED BY evaluations_fair_user ` +
    `WHERE ${QUEUED} AND e.user_name = :user AND e.priority = '${priority}' ` +
    (skip ? SKIP : '') +
    'ORDER BY e.fair_tag, e.row_order LIMIT :room'
  );
}

function anonymousSql(priority: Priority, skip: boolean): string {
  return (
    `SELECT ${EVALUATION_COLUMNS}, e.fair_tag AS fair_tag FROM evaluations e ` +
    'INDEXED BY evaluations_fair_anonymous ' +
    `WHERE ${QUEUED} AND e.user_name IS NULL AND e.priority = '${priority}' ` +
    (skip ? SKIP : '') +
    'ORDER BY e.fair_tag, e.row_order LIMIT :room'
  );
}

/**
 * The users with something queued, one index probe each (a skip scan SQLite does not do on its own). The
 * index is named: left to itself, SQLite's planner takes `evaluations_status_owner` (status=?) for each step
 * and reads every queued row per user — 3.7 s per claim at 100,000 queued instead of a few ms.
 */
export const QUEUED_USERS = `WITH RECURSIVE users(name) AS (
  SELECT MIN(user_name) FROM evaluations INDEXED BY evaluations_fair_user
  WHERE status = 'queued' AND user_name IS NOT NULL
  UNION ALL
  SELECT (SELECT MIN(user_name) FROM evaluations INDEXED BY evaluations_fair_user
          WHERE status = 'queued' AND user_name IS NOT NULL AND user_name > users.name)
  FROM users WHERE users.name IS NOT NULL
) SELECT name FROM users WHERE name IS NOT NULL`;
