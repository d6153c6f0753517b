import { checkClaimRequest, checkDispatch } from '../claim.js';
import type { Claimed, ClaimRequest, TransitionWrite } from '../store.js';
import { advisoryKey, type Database, type Queryable } from './database.js';
import { toEvaluationRow } from './rows.js';
import type { SchemaNames, Statements } from './sql.js';
import type { TransitionWriter } from './transitions.js';

/**
 * `claimQueued` as one transaction of four round trips:
 * 1. BEGIN with a transaction-level advisory lock for this schema, so two replicas never both count the same
 *    free global slots (claims serialize only with each other, for the statements below; READ COMMITTED gives
 *    the next statement a snapshot that includes the previous claimer's commit);
 * 2. one statement: the room left under `max` and the global limit (from the active count), and the first
 *    queued rows in queue order, locked `FOR NO KEY UPDATE SKIP LOCKED` (a row a concurrent cancel is writing
 *    is skipped, not waited for; the lock keeps the others queued until we commit);
 * 3. `dispatch` for each, in JS, then the compare-and-set writes with the owner, their transitions and NOTIFY
 *    as the last statement;
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
    // Rows fetched so far: still queued until the final write, so the next page must leave them out.
    const seen: string[] = [];
    for (;;) {
      const maxLeft = request.max - writes.length;
      const globalLeft = request.globalConcurrency - writes.length;
      const page = await tx.query(sql.claimCandidates, [seen, request.agingMs, maxLeft, globalLeft]);
      let declined = 0;
      for (const row of page) {
        const { evaluation, rowOrder } = toEvaluationRow(row);
        seen.push(String(rowOrder));
        const write = request.dispatch(evaluation);
        if (write) checkDispatch(evaluation, write);
        if (write) writes.push(write);
        else declined++;
      }
      // Every row taken: the page was the room left, or the queue ended. Declined rows leave room to refill.
      if (declined === 0) break;
    }
    // The rows are locked by this transaction and were queued when locked, so no compare-and-set can lose.
    const transitions = await writer.compareAndSet(tx, writes, request.owner);
    return writes.flatMap((write, i) => {
      const transition = transitions[i];
      return transition ? [{ evaluation: write.evaluation, transition }] : [];
    });
  };
  return db.transaction(claiming, { advisoryLock: advisoryKey(names.schema, 'claim') });
}
