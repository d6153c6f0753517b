import { TERMINAL_STATUSES } from '../../core/index.js';
import { scopeCondition, type PrunableEvaluation, type RetentionStore } from '../retention.js';
import type { Database } from './database.js';
import type { SchemaNames } from './sql.js';

const TERMINAL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * Retention on PostgreSQL: the same rules as SQLite's (see `../retention.ts`), one statement per step.
 * Freed space is reused by the table itself; autovacuum returns it, so `reclaim` has nothing to do.
 */
export function postgresRetention(db: Database, names: SchemaNames): RetentionStore {
  const t = (table: string) => `${names.quoted}.${table}`;
  const prunableSql = (scope: string, limit: string) =>
    `SELECT e.id AS id, ((e.result ->> 'artifacts') IS NOT NULL OR (e.result ->> 'logSpill') IS NOT NULL) ` +
    `AS has_objects FROM ${t('evaluations')} e ` +
    `WHERE e.finished_at IS NOT NULL AND e.finished_at < $1 AND e.status IN (${TERMINAL}) ` +
    `AND NOT EXISTS (SELECT 1 FROM ${t('webhook_deliveries')} d WHERE d.subject_kind = 'evaluation' ` +
    `AND d.subject_id = e.id AND d.state = 'pending') ` +
    `AND (e.batch_id IS NULL OR NOT EXISTS (SELECT 1 FROM ${t('batches')} b WHERE b.id = e.batch_id ` +
    `AND (b.remaining > 0 OR EXISTS (SELECT 1 FROM ${t('webhook_deliveries')} d WHERE d.subject_kind = 'batch' ` +
    `AND d.subject_id = b.id AND d.state = 'pending'))))${scope} ` +
    `ORDER BY e.finished_at LIMIT ${limit}`;
  return {
    async prunable(cutoff, limit, scope) {
      const values: unknown[] = [cutoff];
      const param = (value: unknown) => {
        values.push(value);
        return `$${values.length}`;
      };
      const condition = scopeCondition(scope, t, param);
      const sql = prunableSql(condition, param(limit));
      const rows = await db.query<{ id: string; has_objects: boolean }>(sql, values);
      return rows.map((row): PrunableEvaluation => ({ id: row.id, hasObjects: row.has_objects }));
    },

    async deleteEvaluations(ids) {
      if (ids.length === 0) return 0;
      return db.transaction(async (tx) => {
        const deleted = await tx.query<{ batch_id: string | null }>(
          `DELETE FROM ${t('evaluations')} WHERE id = ANY($1::text[]) RETURNING batch_id`,
          [ids],
        );
        await tx.query(
          `DELETE FROM ${t('webhook_deliveries')} WHERE subject_kind = 'evaluation' AND subject_id = ANY($1::text[])`,
          [ids],
        );
        await tx.query(`DELETE FROM ${t('evaluation_webhooks')} WHERE evaluation_id = ANY($1::text[])`, [
          ids,
        ]);
        const batches = [
          ...new Set(deleted.map((row) => row.batch_id).filter((b): b is string => b !== null)),
        ];
        if (batches.length > 0) {
          const empty = await tx.query<{ id: string }>(
            `DELETE FROM ${t('batches')} b WHERE b.id = ANY($1::text[]) ` +
              `AND NOT EXISTS (SELECT 1 FROM ${t('evaluations')} e WHERE e.batch_id = b.id) RETURNING b.id`,
            [batches],
          );
          if (empty.length > 0) {
            await tx.query(
              `DELETE FROM ${t('webhook_deliveries')} WHERE subject_kind = 'batch' AND subject_id = ANY($1::text[])`,
              [empty.map((row) => row.id)],
            );
          }
        }
        return deleted.length;
      });
    },

    async reclaim() {},

    async sizeBytes() {
      const rows = await db.query<{ bytes: string }>(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS bytes FROM pg_class c ` +
          `JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [names.schema],
      );
      return Number(rows[0]?.bytes ?? 0);
    },
  };
}
