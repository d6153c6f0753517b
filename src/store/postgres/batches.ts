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
import { submittedMs } from '../claim.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { IdempotencyKey, ListPage, ListQuery } from '../store.js';
import type { Database } from './database.js';
import { toEvaluationRow, type Row } from './rows.js';
import { EVALUATION_COLUMNS, type SchemaNames } from './sql.js';

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * The batch, its items, their labels, webhook targets and `queued` transitions as ONE statement (one round
 * trip, atomic on its own), each table fed by arrays (`unnest`) rather than a statement per row. As in a single
 * create (`transitions.ts`), the transition counter is advanced last — its WHERE reads every other insert, so
 * they run first, and a unique violation (a taken idempotency key) happens before its lock is taken — by the
 * number of items at once: their seqs are contiguous, in item order. The NOTIFY carries no transitions (a
 * batch's are too many for a payload): listeners read the store.
 */
function createBatchSql(names: SchemaNames): string {
  const t = (table: string) => `${names.quoted}.${table}`;
  return `WITH b AS (
  INSERT INTO ${t('batches')} (id, total, remaining, labels, webhook_url, user_name, created_at,
    idempotency_scope, idempotency_key, fingerprint)
  VALUES ($1, $2, $2, $3::jsonb, $4, $29, $5, $6, $7, $8)
  RETURNING id
), w AS (
  SELECT * FROM unnest($9::text[], $10::text[], $11::text[], $12::bytea[], $13::text[], $14::text[],
                       $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[], $20::text[], $21::text[])
    WITH ORDINALITY AS w(id, language, code, stdin, priority, labels, limits, runtime, created_at,
                         submitted_at, submitted_ms, project, user_name, n)
), ev AS (
  INSERT INTO ${t('evaluations')} (id, status, language, code, stdin, priority, labels, limits, runtime,
    created_at, submitted_at, submitted_ms, project, user_name, batch_id)
  SELECT w.id, 'queued', w.language, w.code, w.stdin, w.priority, w.labels::jsonb, w.limits::jsonb, w.runtime,
    w.created_at, w.submitted_at, w.submitted_ms, w.project, w.user_name, b.id
  FROM w CROSS JOIN b ORDER BY w.n
  RETURNING row_order, id
), labels AS (
  INSERT INTO ${t('evaluation_labels')} (key, value, row_order)
  SELECT l.key, l.value, ev.row_order
  FROM unnest($22::text[], $23::text[], $24::text[]) AS l(id, key, value) JOIN ev ON ev.id = l.id
  RETURNING 1
), targets AS (
  INSERT INTO ${t('evaluation_webhooks')} (evaluation_id, url, created_at)
  SELECT wt.id, wt.url, wt.at FROM unnest($25::text[], $26::text[], $27::text[]) AS wt(id, url, at)
  WHERE EXISTS (SELECT 1 FROM b)
  RETURNING 1
), counter AS (
  UPDATE ${t('transition_counter')} SET last_seq = last_seq + (SELECT count(*) FROM ev)
  WHERE (SELECT count(*) FROM ev) + (SELECT count(*) FROM labels) + (SELECT count(*) FROM targets) > 0
  RETURNING last_seq
), inserted AS (
  INSERT INTO ${t('transitions')} (seq, evaluation_id, from_status, to_status, at, reason)
  SELECT c.last_seq - $2 + w.n, w.id, NULL, 'queued', w.created_at, NULL FROM counter c CROSS JOIN w
  RETURNING seq
), note AS (
  SELECT pg_notify($28, '') AS notified WHERE EXISTS (SELECT 1 FROM inserted)
)
SELECT c.last_seq::text AS last_seq, (SELECT count(*) FROM note) AS notified FROM counter c`;
}

function statementsOf(names: SchemaNames) {
  const t = (table: string) => `${names.quoted}.${table}`;
  return {
    create: createBatchSql(names),
    findIdempotent: `SELECT id, fingerprint FROM ${t('batches')} WHERE idempotency_scope = $1 AND idempotency_key = $2`,
    // One snapshot for the batch and its counts.
    progress:
      `SELECT b.id, b.total, b.labels, b.webhook_url, b.user_name, b.created_at, ` +
      `(SELECT COALESCE(json_object_agg(s.status, s.n), '{}') FROM (SELECT status, count(*) AS n ` +
      `FROM ${t('evaluations')} WHERE batch_id = b.id GROUP BY status) s) AS counts ` +
      `FROM ${t('batches')} b WHERE b.id = $1`,
    members: `SELECT id, status FROM ${t('evaluations')} WHERE batch_id = $1 ORDER BY row_order`,
    list: (status: boolean) =>
      `SELECT ${EVALUATION_COLUMNS} FROM ${t('evaluations')} e WHERE e.batch_id = $1 AND e.row_order < $2` +
      `${status ? ' AND e.status = $4' : ''} ORDER BY e.row_order DESC LIMIT $3`,
  };
}

/** Batches on PostgreSQL: one statement writes a whole batch. */
export function postgresBatches(db: Database, names: SchemaNames): BatchStore {
  const sql = statementsOf(names);
  return {
    async createBatch(
      batch: Batch,
      items: readonly NewBatchItem[],
      idempotency?: IdempotencyKey,
    ): Promise<Transition[]> {
      const evaluations = items.map((item) => item.evaluation);
      for (const e of evaluations) {
        if (e.status !== 'queued') {
          throw new Error(`createBatch() takes queued evaluations; ${e.id} is ${e.status}`);
        }
      }
      const column = <T>(pick: (e: (typeof evaluations)[number]) => T) => evaluations.map(pick);
      const labels = evaluations.flatMap((e) => Object.entries(e.labels).map(([k, v]) => [e.id, k, v]));
      const targets = items.filter((item) => item.webhookUrl !== undefined);
      let rows: { last_seq: string }[];
      try {
        rows = await db.query<{ last_seq: string }>(sql.create, [
          batch.id,
          items.length,
          JSON.stringify(batch.labels),
          batch.webhookUrl,
          batch.createdAt,
          idempotency?.scope ?? null,
          idempotency?.key ?? null,
          idempotency?.fingerprint ?? null,
          column((e) => e.id),
          column((e) => e.language),
          column((e) => e.code),
          column((e) => Buffer.from(e.stdin, 'utf8')),
          column((e) => e.priority),
          column((e) => JSON.stringify(e.labels)),
          column((e) => JSON.stringify(e.limits)),
          column((e) => e.runtime),
          column((e) => e.createdAt),
          column((e) => e.timings.submittedAt),
          column((e) => submittedMs(e)),
          column((e) => e.project ?? null),
          column((e) => e.user ?? null),
          labels.map((l) => l[0]),
          labels.map((l) => l[1]),
          labels.map((l) => l[2]),
          targets.map((item) => item.evaluation.id),
          targets.map((item) => item.webhookUrl),
          targets.map((item) => item.evaluation.createdAt),
          names.channel,
          batch.user,
        ]);
      } catch (error) {
        const fields = error as { code?: unknown; constraint?: unknown } | null;
        if (fields?.code === UNIQUE_VIOLATION && fields.constraint === 'batches_idempotency' && idempotency) {
          throw new BatchIdempotencyKeyTaken(idempotency);
        }
        throw error;
      }
      const last = Number(rows[0]!.last_seq);
      return evaluations.map((e, index) => ({
        seq: last - evaluations.length + index + 1,
        evaluationId: e.id,
        from: null,
        to: 'queued' as const,
        at: e.createdAt,
        reason: null,
      }));
    },

    async findIdempotentBatch(scope: string, key: string): Promise<IdempotentBatch | null> {
      const [row] = await db.query(sql.findIdempotent, [scope, key]);
      return row ? { batchId: String(row['id']), fingerprint: String(row['fingerprint']) } : null;
    },

    async batchProgress(id: string): Promise<BatchProgress | null> {
      const [row] = await db.query(sql.progress, [id]);
      if (!row) return null;
      const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
      for (const [status, n] of Object.entries(row['counts'] as Record<string, number | string>)) {
        byStatus[status as Status] = Number(n);
      }
      return { batch: toBatch(row), byStatus };
    },

    async membersOf(id: string): Promise<BatchMember[]> {
      const rows = await db.query(sql.members, [id]);
      return rows.map((row) => ({ id: String(row['id']), status: row['status'] as Status }));
    },

    async listBatch(id: string, query: Pick<ListQuery, 'status' | 'limit' | 'cursor'>): Promise<ListPage> {
      const before = query.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(query.cursor);
      // One extra row tells whether a next page exists.
      const params: unknown[] = [id, before, query.limit + 1];
      if (query.status !== undefined) params.push(query.status);
      const rows = (await db.query(sql.list(query.status !== undefined), params)).map(toEvaluationRow);
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
    labels: row['labels'] as Record<string, string>,
    createdAt: String(row['created_at']),
    webhookUrl: row['webhook_url'] === null ? null : String(row['webhook_url']),
    user: row['user_name'] === null ? null : String(row['user_name']),
  };
}
