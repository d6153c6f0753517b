import { checkClaimRequest, checkDispatch } from '../claim.js';
import { mergeByAging, RunningAllowance, type FairCandidate, type PriorityRows } from '../fair-order.js';
import { PRIORITIES } from '../../core/index.js';
import type { Evaluation } from '../../core/index.js';
import type { Row } from './rows.js';
import type { Claimed, ClaimRequest, TransitionWrite } from '../store.js';
import { advisoryKey, type Database, type Queryable } from './database.js';
import { toEvaluationRow } from './rows.js';
import type { SchemaNames, Statements } from './sql.js';
import type { TransitionWriter } from './transitions.js';
import { blockedClaimSql } from './fair-claim.js';

/** `blockedClaimSql` per schema, built once. */
const blockedClaims = new Map<string, string>();
function blockedClaimSqlOf(names: SchemaNames): string {
  let text = blockedClaims.get(names.quoted);
  if (text === undefined) {
    text = blockedClaimSql((table) => `${names.quoted}.${table}`);
    blockedClaims.set(names.quoted, text);
  }
  return text;
}

/**
 * `claimQueued` as one transaction of four round trips (five when some are held):
 * 1. BEGIN with a transaction-level advisory lock for this schema, so two replicas never both count the same
 *    free global slots (claims serialize only with each other, for the statements below; READ COMMITTED gives
 *    the next statement a snapshot that includes the previous claimer's commit);
 * 2. one statement: the room left under `max` and the global limit (from the active count), and the first
 *    queued rows in queue order, locked `FOR NO KEY UPDATE SKIP LOCKED` (a row a concurrent cancel is writing
 *    is skipped, not waited for; the lock keeps the others queued until we commit);
 * 3. `dispatch` for each, in JS, then the owner of the held ones (no transition), then the compare-and-set
 *    writes with the owner, their transitions and NOTIFY as the last statement;
 * 4. COMMIT.
 * When `dispatch` declines some, the next rows are fetched (step 2 again) while room is left.
 */
export async function claimQueued(
  db: Database,
  names: SchemaNames,
  sql: Statements,
  writer: TransitionWriter,
  request: ClaimRequest,
): Promise<Claimed[]> {
  checkClaimRequest(request);
  if (request.max === 0) return [];
  const claiming = async (tx: Queryable) => {
    const writes: TransitionWrite[] = [];
    const held: Evaluation[] = [];
    const allowance = await runningAllowance(tx, sql, request);
    // Rows taken or declined so far: still queued until the final write, so the next page must leave them out.
    const seen: string[] = [];
    for (;;) {
      const taken = writes.length + held.length;
      const blocked = allowance.blocked();
      const page = await tx.query(blocked.length > 0 ? blockedClaimSqlOf(names) : sql.claimCandidates, [
        seen,
        request.max - taken,
        request.globalConcurrency - taken,
        blocked,
      ]);
      const room = Number(page[0]?.['room'] ?? 0);
      let looked = 0;
      let declined = 0;
      for (const { evaluation, rowOrder } of mergeByAging(priorityRows(page, room), request.agingMs)) {
        if (writes.length + held.length - taken >= room) break;
        looked++;
        seen.push(String(rowOrder));
        const decision = allowance.allows(evaluation.user)
          ? checkDispatch(evaluation, request.dispatch(evaluation))
          : null;
        if (decision === 'hold') held.push(evaluation);
        else if (decision) writes.push(decision);
        else declined++;
        if (decision) allowance.take(evaluation.user);
      }
      // Room filled, or the queue ended; only declined rows (or a merge stopped at a cut list) leave room.
      const filled = writes.length + held.length - taken >= room;
      if (filled || looked === 0 || (declined === 0 && looked >= page.length)) break;
    }
    // The rows are locked by this transaction and were queued and unowned when locked, so no write can lose.
    const holding =
      held.length > 0
        ? await tx.query<{ id: string }>(sql.holdQueued, [request.owner, held.map((e) => e.id)])
        : [];
    const holds = new Set(holding.map((row) => row.id));
    const transitions = await writer.compareAndSet(tx, writes, request.owner);
    const dispatched = writes.flatMap((write, i) => {
      const transition = transitions[i];
      return transition ? [{ evaluation: write.evaluation, transition }] : [];
    });
    return [
      ...dispatched,
      ...held.filter((e) => holds.has(e.id)).map((evaluation) => ({ evaluation, transition: null })),
    ];
  };
  return db.transaction(claiming, { advisoryLock: advisoryKey(names.schema, 'claim') });
}

/** `maxRunning` for this claim: the active and held counts of the users with a limit. */
async function runningAllowance(
  tx: Queryable,
  sql: Statements,
  request: ClaimRequest,
): Promise<RunningAllowance> {
  const users = RunningAllowance.limitedUsers(request.maxRunning);
  const active = new Map<string, number>();
  if (users.length > 0) {
    for (const row of await tx.query(sql.activeByUser, [users])) {
      active.set(String(row['user_name']), Number(row['n']));
    }
  }
  return new RunningAllowance(request.maxRunning, active);
}

/** The rows of one claim page, split by priority (they come ordered by rank, then fair order). */
function priorityRows(rows: readonly Row[], room: number): PriorityRows[] {
  const lists = PRIORITIES.map(() => [] as FairCandidate[]);
  for (const row of rows) {
    const { evaluation, rowOrder } = toEvaluationRow(row);
    lists[Number(row['rank'])]?.push({ evaluation, rowOrder });
  }
  return lists.map((list) => ({ rows: list, truncated: list.length >= room }));
}
