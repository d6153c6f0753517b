import { STATUSES, type Status, type Transition } from '../../core/index.js';
import {
  BatchIdempotencyKeyTaken,
  type Batch,
  type BatchMember,
  type BatchProgress,
  type BatchStore,
  type IdempotentBatch,
  type NewBatchItem,
} from '../batches.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { IdempotencyKey, ListPage, ListQuery } from '../store.js';
import { EVALUATION_COLUMNS, evaluationInsertValues, toEvaluationRow, type Row } from './rows.js';
import type { StatementCache } from './statements.js';
import type { Transactor } from './transaction.js';

/** SQLite's "UNIQUE constraint failed" extended error code. */
const SQLITE_CONSTRAINT_UNIQUE = 2067;

/**
 * Rows per multi-row INSERT: chunks of 64, then the remainder in powers of two, so any batch size uses at most
 * seven prepared statement shapes per table (cached like every other statement) and stays far below SQLite's
 * 32,766 parameters per statement (64 × 20).
 */
const CHUNK = 64;

const EVALUATION_INSERT_COLUMNS =
  'id, status, language, code, stdin, priority, labels, limits, runtime, created_at, submitted_at, ' +
  'dispatched_at, started_at, finished_at, stored_at, result, submitted_ms, project, user_name, batch_id';
const EVALUATION_PARAMS = EVALUATION_INSERT_COLUMNS.split(',').length;

const SQL = {
  insertBatch:
    'INSERT INTO batches (id, total, remaining, labels, webhook_url, user_name, created_at, ' +
    'idempotency_scope, idempotency_key, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  findIdempotent: 'SELECT id, fingerprint FROM batches WHERE idempotency_scope = ? AND idempotency_key = ?',
  getBatch: 'SELECT id, total, labels, webhook_url, user_name, created_at FROM batches WHERE id = ?',
  countByStatus: 'SELECT status, COUNT(*) AS n FROM evaluations WHERE batch_id = ? GROUP BY status',
  members: 'SELECT id, status FROM evaluations WHERE batch_id = ? ORDER BY row_order',
  list: (status: boolean) =>
    `SELECT ${EVALUATION_COLUMNS} FROM evaluations e WHERE e.batch_id = ? AND e.row_order < ?` +
    `${status ? ' AND e.status = ?' : ''} ORDER BY e.row_order DESC LIMIT ?`,
} as const;

const values = (rows: number, params: number) =>
  Array.from({ length: rows }, () => `(${Array.from({ length: params }, () => '?').join(', ')})`).join(', ');

/** Insert statements for `rows` rows at a time. */
const insertEvaluations = (rows: number) =>
  `INSERT INTO evaluations (${EVALUATION_INSERT_COLUMNS}) VALUES ${values(rows, EVALUATION_PARAMS)} ` +
  'RETURNING id, row_order';
const insertLabels = (rows: number) =>
  `INSERT INTO evaluation_labels (key, value, row_order) VALUES ${values(rows, 3)}`;
const insertTargets = (rows: number) =>
  `INSERT INTO evaluation_webhooks (evaluation_id, url, created_at) VALUES ${values(rows, 3)}`;
const insertTransitions = (rows: number) =>
  `INSERT INTO transitions (evaluation_id, from_status, to_status, at, reason) VALUES ${values(rows, 5)} ` +
  'RETURNING seq, evaluation_id';

/** Splits `items` into chunks whose sizes are CHUNK or a power of two below it. */
function chunksOf<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let at = 0;
  while (at < items.length) {
    let size = CHUNK;
    while (size > items.length - at) size /= 2;
    chunks.push(items.slice(at, at + size));
    at += size;
  }
  return chunks;
}

/** Batches on SQLite: the batch and its items in one IMMEDIATE transaction, multi-row prepared inserts. */
export function sqliteBatches(statements: StatementCache, transactor: Transactor): BatchStore {
  /** Runs a multi-row insert per chunk, each row's parameters from `paramsOf`; the RETURNING rows of all. */
  const insertAll = <T>(
    rows: readonly T[],
    sqlFor: (n: number) => string,
    paramsOf: (row: T) => (string | number | null)[],
  ): Row[] => {
    const returned: Row[] = [];
    for (const chunk of chunksOf(rows)) {
      returned.push(...statements.get(sqlFor(chunk.length)).all(...chunk.flatMap(paramsOf)));
    }
    return returned;
  };

  return {
    async createBatch(
      batch: Batch,
      items: readonly NewBatchItem[],
      idempotency?: IdempotencyKey,
    ): Promise<Transition[]> {
      try {
        return transactor.run(() => {
          statements
            .get(SQL.insertBatch)
            .run(
              batch.id,
              batch.total,
              items.length,
              JSON.stringify(batch.labels),
              batch.webhookUrl,
              batch.user,
              batch.createdAt,
              idempotency?.scope ?? null,
              idempotency?.key ?? null,
              idempotency?.fingerprint ?? null,
            );
          const inserted = insertAll(items, insertEvaluations, ({ evaluation: e }) => {
            if (e.status !== 'queued')
              throw new Error(`createBatch() takes queued evaluations; ${e.id} is ${e.status}`);
            return [...evaluationInsertValues(e), batch.id];
          });
          const rowOrder = new Map(inserted.map((row) => [String(row['id']), Number(row['row_order'])]));
          const labels = items.flatMap(({ evaluation: e }) =>
            Object.entries(e.labels).map(([key, value]) => [key, value, rowOrder.get(e.id)!]),
          );
          insertAll(labels, insertLabels, (row) => row);
          const targets = items.filter((item) => item.webhookUrl !== undefined);
          insertAll(targets, insertTargets, (item) => [
            item.evaluation.id,
            item.webhookUrl!,
            item.evaluation.createdAt,
          ]);
          // One writer at a time holds the database: the seqs AUTOINCREMENT hands out here are contiguous.
          const seqs = insertAll(items, insertTransitions, ({ evaluation: e }) => [
            e.id,
            null,
            'queued',
            e.createdAt,
            null,
          ]);
          const seqOf = new Map(seqs.map((row) => [String(row['evaluation_id']), Number(row['seq'])]));
          return items.map(({ evaluation: e }) => ({
            seq: seqOf.get(e.id)!,
            evaluationId: e.id,
            from: null,
            to: 'queued' as const,
            at: e.createdAt,
            reason: null,
          }));
        });
      } catch (error) {
        if (isUniqueViolation(error) && idempotency && /batches\.idempotency/.test(error.message)) {
          throw new BatchIdempotencyKeyTaken(idempotency);
        }
        if (isUniqueViolation(error))
          throw new Error(`batch ${batch.id} or one of its items already exists`, { cause: error });
        throw error;
      }
    },

    async findIdempotentBatch(scope: string, key: string): Promise<IdempotentBatch | null> {
      const row = statements.get(SQL.findIdempotent).get(scope, key);
      return row ? { batchId: String(row['id']), fingerprint: String(row['fingerprint']) } : null;
    },

    async batchProgress(id: string): Promise<BatchProgress | null> {
      const row = statements.get(SQL.getBatch).get(id);
      if (!row) return null;
      const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
      for (const count of statements.get(SQL.countByStatus).all(id)) {
        byStatus[count['status'] as Status] = Number(count['n']);
      }
      return { batch: toBatch(row), byStatus };
    },

    async membersOf(id: string): Promise<BatchMember[]> {
      return statements
        .get(SQL.members)
        .all(id)
        .map((row) => ({ id: String(row['id']), status: row['status'] as Status }));
    },

    async listBatch(id: string, query: Pick<ListQuery, 'status' | 'limit' | 'cursor'>): Promise<ListPage> {
      const before = query.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(query.cursor);
      const params: (string | number)[] = [id, before];
      if (query.status !== undefined) params.push(query.status);
      // One extra row tells whether a next page exists.
      params.push(query.limit + 1);
      const rows = statements
        .get(SQL.list(query.status !== undefined))
        .all(...params)
        .map(toEvaluationRow);
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => r.evaluation),
        nextCursor: rows.length > query.limit && last ? encodeCursor(last.rowOrder) : null,
      };
    },
  };
}

function toBatch(row: Row): Batch {
  return {
    id: String(row['id']),
    total: Number(row['total']),
    labels: JSON.parse(String(row['labels'])) as Record<string, string>,
    createdAt: String(row['created_at']),
    webhookUrl: row['webhook_url'] === null ? null : String(row['webhook_url']),
    user: row['user_name'] === null ? null : String(row['user_name']),
  };
}

function isUniqueViolation(error: unknown): error is Error & { errcode: number } {
  return error instanceof Error && (error as { errcode?: unknown }).errcode === SQLITE_CONSTRAINT_UNIQUE;
}
