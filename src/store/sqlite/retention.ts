import type { DatabaseSync } from 'node:sqlite';
import { TERMINAL_STATUSES } from '../../core/index.js';
import { scopeCondition, type PrunableEvaluation, type RetentionStore } from '../retention.js';
import type { StatementCache } from './statements.js';
import type { Transactor } from './transaction.js';

const TERMINAL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ');
/** Pages returned to the filesystem per `reclaim` (4 KiB each): a few milliseconds of work at most. */
const VACUUM_PAGES = 500;

/**
 * By the `evaluations_finished` index, in its order (`+e.status` keeps the planner off the status index, which
 * would read every terminal row and sort them for each batch); the NOT EXISTS probes use the webhook subject
 * and batch keys.
 */
const prunableSql = (scope: string) =>
  `SELECT e.id AS id, (json_extract(e.result, '$.artifacts') IS NOT NULL ` +
  `OR json_extract(e.result, '$.logSpill') IS NOT NULL) AS has_objects FROM evaluations e ` +
  `WHERE e.finished_at IS NOT NULL AND e.finished_at < ? AND +e.status IN (${TERMINAL}) ` +
  `AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subject_kind = 'evaluation' ` +
  `AND d.subject_id = e.id AND d.state = 'pending') ` +
  `AND (e.batch_id IS NULL OR NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = e.batch_id AND (b.remaining > 0 ` +
  `OR EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subject_kind = 'batch' AND d.subject_id = b.id ` +
  `AND d.state = 'pending'))))${scope} ` +
  'ORDER BY e.finished_at LIMIT ?';

/**
 * Retention on SQLite. Deletes cascade (foreign keys are on) to transitions, log chunks, labels and
 * idempotency keys; webhook rows are keyed by subject, not by foreign key, so they are deleted here. New
 * databases are created with `auto_vacuum = INCREMENTAL`; an older file is switched over by one full VACUUM
 * at its first reclaim, after which each reclaim frees a bounded number of pages.
 */
export function sqliteRetention(
  db: DatabaseSync,
  statements: StatementCache,
  transactor: Transactor,
): RetentionStore {
  return {
    async prunable(cutoff, limit, scope) {
      const values: string[] = [];
      const condition = scopeCondition(
        scope,
        (name) => name,
        (value) => {
          values.push(value);
          return '?';
        },
      );
      return statements
        .get(prunableSql(condition))
        .all(cutoff, ...values, limit)
        .map((row): PrunableEvaluation => ({
          id: String(row['id']),
          hasObjects: Number(row['has_objects']) === 1,
        }));
    },

    async deleteEvaluations(ids) {
      if (ids.length === 0) return 0;
      return transactor.run(() => {
        let deleted = 0;
        const batches = new Set<string>();
        for (const id of ids) {
          const row = statements.get('SELECT batch_id FROM evaluations WHERE id = ?').get(id);
          if (!row) continue;
          if (row['batch_id'] !== null) batches.add(String(row['batch_id']));
          statements
            .get("DELETE FROM webhook_deliveries WHERE subject_kind = 'evaluation' AND subject_id = ?")
            .run(id);
          statements.get('DELETE FROM evaluation_webhooks WHERE evaluation_id = ?').run(id);
          deleted += Number(statements.get('DELETE FROM evaluations WHERE id = ?').run(id).changes);
        }
        for (const batch of batches) {
          if (statements.get('SELECT 1 FROM evaluations WHERE batch_id = ? LIMIT 1').get(batch)) continue;
          statements
            .get("DELETE FROM webhook_deliveries WHERE subject_kind = 'batch' AND subject_id = ?")
            .run(batch);
          statements.get('DELETE FROM batches WHERE id = ?').run(batch);
        }
        return deleted;
      });
    },

    async reclaim() {
      const mode = Number(db.prepare('PRAGMA auto_vacuum').get()?.['auto_vacuum'] ?? 0);
      if (mode !== 2) {
        // Once per database file created before retention existed: the mode takes effect with a VACUUM.
        db.exec('PRAGMA auto_vacuum = INCREMENTAL');
        db.exec('VACUUM');
        return;
      }
      db.exec(`PRAGMA incremental_vacuum(${VACUUM_PAGES})`);
      // In WAL mode the file shrinks when the vacuum's pages are checkpointed; PASSIVE never waits on readers.
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    },

    async sizeBytes() {
      const pages = Number(db.prepare('PRAGMA page_count').get()?.['page_count'] ?? 0);
      const size = Number(db.prepare('PRAGMA page_size').get()?.['page_size'] ?? 0);
      return pages * size;
    },
  };
}
