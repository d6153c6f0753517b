import type { Database } from './database.js';
import { integer } from './rows.js';
import type { SchemaNames } from './sql.js';
import { ATTEMPT_COLUMNS, DELIVERY_COLUMNS, stateAfter, webhookRowMapping } from '../webhook-rows.js';
import type {
  AttemptRecord,
  ClaimedDelivery,
  DeliveryAttempt,
  DeliveryClaimRequest,
  NewDelivery,
  WebhookDelivery,
  WebhookStore,
  WebhookSubjectKind,
} from '../webhooks.js';

const { toDelivery, toAttempt } = webhookRowMapping(integer);

function statements(names: SchemaNames) {
  const t = (table: string) => `${names.quoted}.${table}`;
  return {
    registerTarget:
      `INSERT INTO ${t('evaluation_webhooks')} (evaluation_id, url, created_at) VALUES ($1, $2, $3) ` +
      'ON CONFLICT (evaluation_id) DO UPDATE SET url = EXCLUDED.url',
    enqueue:
      `INSERT INTO ${t('webhook_deliveries')} ` +
      '(id, subject_kind, subject_id, url, state, attempts, due_ms, claimed_by, created_at) ' +
      "VALUES ($1, $2, $3, $4, 'pending', 0, 0, NULL, $5) ON CONFLICT (id) DO NOTHING RETURNING id",
    // SKIP LOCKED: two replicas claiming at once take different rows and never wait for each other's.
    claim:
      `UPDATE ${t('webhook_deliveries')} d SET due_ms = $1::bigint + $2::bigint, claimed_by = $3 ` +
      `FROM (SELECT id FROM ${t('webhook_deliveries')} WHERE state = 'pending' AND due_ms <= $1 ` +
      'ORDER BY due_ms, id LIMIT $4 FOR UPDATE SKIP LOCKED) c WHERE d.id = c.id ' +
      `RETURNING ${DELIVERY_COLUMNS.split(', ')
        .map((c) => `d.${c}`)
        .join(', ')}`,
    // The compare-and-set on the claim and the attempt's row, as one statement (atomic on its own).
    settle:
      `WITH settled AS (UPDATE ${t('webhook_deliveries')} SET attempts = $2, state = $8, due_ms = $9, ` +
      'claimed_by = NULL WHERE id = $1 AND claimed_by = $10 AND attempts = $2 - 1 RETURNING id) ' +
      `INSERT INTO ${t('webhook_attempts')} (${ATTEMPT_COLUMNS}) ` +
      'SELECT id, $2::integer, $3::text, $4::integer, $5::text, $6::integer, $7::text FROM settled RETURNING attempt',
    release:
      `UPDATE ${t('webhook_deliveries')} SET due_ms = $3, claimed_by = NULL ` +
      "WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
    nextDue: `SELECT MIN(due_ms)::text AS due FROM ${t('webhook_deliveries')} WHERE state = 'pending'`,
    ofSubject:
      `SELECT ${DELIVERY_COLUMNS} FROM ${t('webhook_deliveries')} WHERE subject_kind = $1 AND subject_id = $2 ` +
      'ORDER BY created_at, id',
    attemptsOf: `SELECT ${ATTEMPT_COLUMNS} FROM ${t('webhook_attempts')} WHERE delivery_id = $1 ORDER BY attempt`,
  };
}

/** The webhook outbox on PostgreSQL, shared by every replica on the schema. */
export function postgresWebhooks(db: Database, names: SchemaNames): WebhookStore {
  const sql = statements(names);
  return {
    async registerEvaluationWebhook(evaluationId: string, url: string, createdAt: string): Promise<void> {
      await db.query(sql.registerTarget, [evaluationId, url, createdAt]);
    },
    async enqueueDelivery(delivery: NewDelivery): Promise<boolean> {
      const { id, subjectKind, subjectId, url, createdAt } = delivery;
      return (await db.query(sql.enqueue, [id, subjectKind, subjectId, url, createdAt])).length === 1;
    },
    async claimDueDeliveries(request: DeliveryClaimRequest): Promise<ClaimedDelivery[]> {
      if (request.max < 1) return [];
      const rows = await db.query(sql.claim, [request.nowMs, request.leaseMs, request.owner, request.max]);
      return rows.map(toDelivery).map((delivery) => ({ delivery, attempt: delivery.attempts + 1 }));
    },
    async recordAttempt(record: AttemptRecord): Promise<boolean> {
      const rows = await db.query(sql.settle, [
        record.deliveryId,
        record.attempt,
        record.at,
        record.statusCode,
        record.error,
        record.durationMs,
        record.nextAttemptAt,
        stateAfter(record),
        record.delivered ? null : record.nextAttemptMs,
        record.owner,
      ]);
      return rows.length === 1;
    },
    async releaseDelivery(deliveryId: string, owner: string, nowMs: number): Promise<void> {
      await db.query(sql.release, [deliveryId, owner, nowMs]);
    },
    async nextDueMs(): Promise<number | null> {
      const [row] = await db.query<{ due: string | null }>(sql.nextDue);
      return row?.due == null ? null : Number(row.due);
    },
    async deliveriesOf(kind: WebhookSubjectKind, subjectId: string): Promise<WebhookDelivery[]> {
      return (await db.query(sql.ofSubject, [kind, subjectId])).map(toDelivery);
    },
    async attemptsOf(deliveryId: string): Promise<DeliveryAttempt[]> {
      return (await db.query(sql.attemptsOf, [deliveryId])).map(toAttempt);
    },
  };
}
