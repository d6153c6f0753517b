import type { Evaluation, Status, Transition } from '../core/index.js';
import type { IdempotencyKey, ListPage, ListQuery } from './store.js';

/**
 * Batches (contract "Batches"), in the same database as their evaluations (conformance:
 * `test/store/conformance-batches.ts`). A batch and all its evaluations are written in one transaction; each
 * evaluation row carries its batch's id. The batch-level webhook is enqueued by the database in the
 * transaction that writes the batch's last terminal transition (see the adapters' migrations): a trigger
 * counts the batch's unfinished evaluations down under the batch row's lock, so exactly one write — on any
 * replica — sees the count reach zero.
 */

export interface Batch {
  readonly id: string;
  readonly total: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: string;
  /** Where the batch-level webhook goes when every item is done; null for none. */
  readonly webhookUrl: string | null;
  /** Who submitted it (its items are theirs too); null while authentication is off. */
  readonly user: string | null;
}

/** One item of a batch and where it is. */
export interface BatchMember {
  readonly id: string;
  readonly status: Status;
}

export interface NewBatchItem {
  /** Queued, with the batch's labels already merged into its own. */
  readonly evaluation: Evaluation;
  /** The item's own webhook target (per evaluation), stored in the same transaction. */
  readonly webhookUrl?: string;
}

export interface BatchProgress {
  readonly batch: Batch;
  /** Every status with its count (zero included). */
  readonly byStatus: Readonly<Record<Status, number>>;
}

export interface IdempotentBatch {
  readonly batchId: string;
  readonly fingerprint: string;
}

/** Thrown by `createBatch` when another batch already holds the idempotency key (nothing is written). */
export class BatchIdempotencyKeyTaken extends Error {
  constructor(key: IdempotencyKey) {
    super(`batch idempotency key "${key.key}" is already taken`);
    this.name = 'BatchIdempotencyKeyTaken';
  }
}

export interface BatchStore {
  /**
   * Inserts the batch, every item (status `queued`, in item order) with its labels, webhook target and
   * `queued` transition, and the idempotency key when given one — all in one transaction. The transitions'
   * seqs are contiguous, in item order.
   *
   * @throws BatchIdempotencyKeyTaken when the key is already recorded for its scope (nothing is written)
   */
  createBatch(
    batch: Batch,
    items: readonly NewBatchItem[],
    idempotency?: IdempotencyKey,
  ): Promise<Transition[]>;
  /** The batch that recorded this key in this scope, if any. */
  findIdempotentBatch(scope: string, key: string): Promise<IdempotentBatch | null>;
  /** The batch and its evaluations' counts by status (one index look-up on the batch id); null when unknown. */
  batchProgress(id: string): Promise<BatchProgress | null>;
  /** The batch's evaluations with their statuses, in item order. */
  membersOf(id: string): Promise<BatchMember[]>;
  /** The batch's evaluations, newest first (the last item first), paged like `list`; `status` filters. */
  listBatch(id: string, query: Pick<ListQuery, 'status' | 'limit' | 'cursor'>): Promise<ListPage>;
}
