import { integer } from './rows.js';
import type { StatementCache } from './statements.js';
import type { Transactor } from './transaction.js';
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

const SQL = {
  registerTarget:
    'INSERT INTO evaluation_webhooks (evaluation_id, url, created_at) VALUES (?, ?, ?) ' +
    'ON CONFLICT (evaluation_id) DO UPDATE SET url = excluded.url',
  enqueue:
    'INSERT OR IGNORE INTO webhook_deliveries ' +
    '(id, subject_kind, subject_id, url, state, attempts, due_ms, claimed_by, created_at) ' +
    "VALUES (?, ?, ?, ?, 'pending', 0, 0, NULL, ?)",
  // One statement: the rows it picks are claimed before anyone else can read them (one writer at a time).
  claim:
    'UPDATE webhook_deliveries SET due_ms = :until, claimed_by = :owner WHERE id IN (' +
    "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND due_ms <= :now " +
    `ORDER BY due_ms, id LIMIT :max) RETURNING ${DELIVERY_COLUMNS}`,
  // The compare-and-set: the claim is still ours, for this attempt.
  settle:
    'UPDATE webhook_deliveries SET attempts = ?, state = ?, due_ms = ?, claimed_by = NULL ' +
    'WHERE id = ? AND claimed_by = ? AND attempts = ?',
  insertAttempt: `INSERT INTO webhook_attempts (${ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  release:
    'UPDATE webhook_deliveries SET due_ms = ?, claimed_by = NULL ' +
    "WHERE id = ? AND claimed_by = ? AND state = 'pending'",
  nextDue: "SELECT MIN(due_ms) AS due FROM webhook_deliveries WHERE state = 'pending'",
  ofSubject:
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subject_kind = ? AND subject_id = ? ` +
    'ORDER BY created_at, id',
  attemptsOf: `SELECT ${ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt`,
} as const;

/** The webhook outbox on SQLite (one process per file: the claims only matter across its own loops). */
export function sqliteWebhooks(statements: StatementCache, transactor: Transactor): WebhookStore {
  return {
    async registerEvaluationWebhook(evaluationId: string, url: string, createdAt: string): Promise<void> {
      statements.get(SQL.registerTarget).run(evaluationId, url, createdAt);
    },
    async enqueueDelivery(delivery: NewDelivery): Promise<boolean> {
      const { id, subjectKind, subjectId, url, createdAt } = delivery;
      return (
        Number(statements.get(SQL.enqueue).run(id, subjectKind, subjectId, url, createdAt).changes) === 1
      );
    },
    async claimDueDeliveries(request: DeliveryClaimRequest): Promise<ClaimedDelivery[]> {
      if (request.max < 1) return [];
      const rows = statements.get(SQL.claim).all({
        until: request.nowMs + request.leaseMs,
        owner: request.owner,
        now: request.nowMs,
        max: request.max,
      });
      return rows.map(toDelivery).map((delivery) => ({ delivery, attempt: delivery.attempts + 1 }));
    },
    async recordAttempt(record: AttemptRecord): Promise<boolean> {
      return transactor.run(() => {
        const changed = statements
          .get(SQL.settle)
          .run(
            record.attempt,
            stateAfter(record),
            record.delivered ? null : record.nextAttemptMs,
            record.deliveryId,
            record.owner,
            record.attempt - 1,
          );
        if (Number(changed.changes) !== 1) return false;
        statements
          .get(SQL.insertAttempt)
          .run(
            record.deliveryId,
            record.attempt,
            record.at,
            record.statusCode,
            record.error,
            record.durationMs,
            record.nextAttemptAt,
          );
        return true;
      });
    },
    async releaseDelivery(deliveryId: string, owner: string, nowMs: number): Promise<void> {
      statements.get(SQL.release).run(nowMs, deliveryId, owner);
    },
    async nextDueMs(): Promise<number | null> {
      const due = statements.get(SQL.nextDue).get()?.['due'];
      return typeof due === 'number' ? due : null;
    },
    async deliveriesOf(kind: WebhookSubjectKind, subjectId: string): Promise<WebhookDelivery[]> {
      return statements.get(SQL.ofSubject).all(kind, subjectId).map(toDelivery);
    },
    async attemptsOf(deliveryId: string): Promise<DeliveryAttempt[]> {
      return statements.get(SQL.attemptsOf).all(deliveryId).map(toAttempt);
    },
  };
}
