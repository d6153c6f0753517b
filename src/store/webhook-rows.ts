import type { Row } from './row-mapping.js';
import type { DeliveryAttempt, DeliveryState, WebhookDelivery, WebhookSubjectKind } from './webhooks.js';

/** Column lists shared by both adapters' webhook queries, so the mappers below always get the same shape. */
export const DELIVERY_COLUMNS = 'id, subject_kind, subject_id, url, state, attempts, due_ms, created_at';
export const ATTEMPT_COLUMNS = 'delivery_id, attempt, at, status_code, error, duration_ms, next_attempt_at';

/** An adapter's integer reader (`RowMapping.integer`): bigint columns arrive as strings from pg. */
type IntegerOf = (row: Row, column: string) => number;

/** Webhook rows to domain objects, once for both adapters. */
export function webhookRowMapping(integer: IntegerOf) {
  const integerOrNull = (row: Row, column: string) => (row[column] === null ? null : integer(row, column));
  const text = (row: Row, column: string): string => {
    const value = row[column];
    if (typeof value !== 'string') throw new Error(`webhook store: column ${column} should be text`);
    return value;
  };
  const textOrNull = (row: Row, column: string) => (row[column] === null ? null : text(row, column));
  return {
    toDelivery(row: Row): WebhookDelivery {
      return {
        id: text(row, 'id'),
        subjectKind: text(row, 'subject_kind') as WebhookSubjectKind,
        subjectId: text(row, 'subject_id'),
        url: text(row, 'url'),
        state: text(row, 'state') as DeliveryState,
        attempts: integer(row, 'attempts'),
        dueMs: integerOrNull(row, 'due_ms'),
        createdAt: text(row, 'created_at'),
      };
    },
    toAttempt(row: Row): DeliveryAttempt {
      return {
        deliveryId: text(row, 'delivery_id'),
        attempt: integer(row, 'attempt'),
        at: text(row, 'at'),
        statusCode: integerOrNull(row, 'status_code'),
        error: textOrNull(row, 'error'),
        durationMs: integer(row, 'duration_ms'),
        nextAttemptAt: textOrNull(row, 'next_attempt_at'),
      };
    },
  };
}

/** The state an attempt's outcome leaves its delivery in. */
export function stateAfter(record: { delivered: boolean; nextAttemptMs: number | null }): DeliveryState {
  if (record.delivered) return 'delivered';
  return record.nextAttemptMs === null ? 'failed' : 'pending';
}
