import { checkClaimRequest, checkDispatch } from '../claim.js';
import type { Claimed, ClaimRequest, TransitionWrite } from '../store.js';
import { advisoryKey, type Database } from './database.js';
import { toEvaluationRow } from './rows.js';
import type { SchemaNames, Statements } from './sql.js';
import type { TransitionWriter } from './transitions.js';

/**
 * `claimQueued` as one transaction:
 * 1. a transaction-level advisory lock for this schema, so two replicas never both count the same free global
 *    slots (claims serialize only with each other, for the few statements below; READ COMMITTED gives the
 *    next statement a snapshot that includes the previous claimer's commit);
 * 2. the active count, then the first queued rows in queue order `FOR NO KEY UPDATE SKIP LOCKED` (a row a
 *    concurrent cancel is writing is skipped, not waited for; the lock keeps it queued until we commit);
 * 3. `dispatch` for each, in JS;
 * 4. the compare-and-set writes with the owner, their transitions and NOTIFY, as the last statement.
 * When `dispatch` leaves some queued, the next rows are fetched, until `max` or the limit is reached.
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
  return db.transaction(async (tx) => {
    await tx.query(sql.claimLock, [advisoryKey(names.schema, 'claim')]);
    const [active] = await tx.query<{ n: number }>(sql.countActive);
    let room = Math.min(request.max, request.globalConcurrency - (active?.n ?? 0));
    const writes: TransitionWrite[] = [];
    // Rows fetched so far: still queued until the final write, so the next page must leave them out.
    const seen: string[] = [];
    while (room > 0) {
      const page = await tx.query(sql.queuedInOrder, [seen, request.agingMs, room]);
      if (page.length === 0) break;
      for (const row of page) {
        const { evaluation, rowOrder } = toEvaluationRow(row);
        seen.push(String(rowOrder));
        const write = request.dispatch(evaluation);
        if (!write) continue;
        checkDispatch(evaluation, write);
        writes.push(write);
        room--;
      }
    }
    // The rows are locked by this transaction and were queued when locked, so no compare-and-set can lose.
    const transitions = await writer.compareAndSet(tx, writes, request.owner);
    return writes.flatMap((write, i) => {
      const transition = transitions[i];
      return transition ? [{ evaluation: write.evaluation, transition }] : [];
    });
  });
}
