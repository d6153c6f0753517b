import type { UserBacklog } from '../../core/index.js';
import type { QuotaStore } from '../quotas.js';
import type { Database } from './database.js';
import type { SchemaNames } from './sql.js';

/** The quota counts on PostgreSQL, in one statement (docs/scheduling.md). */
export function postgresQuotas(db: Database, names: SchemaNames): QuotaStore {
  const t = `${names.quoted}.evaluations`;
  // Off `evaluations_fair_user`, `evaluations_user_submitted` (twice); $3 is the 0-based offset.
  const backlog =
    `SELECT (SELECT count(*)::integer FROM ${t} WHERE user_name = $1 AND status = 'queued' ` +
    'AND user_name IS NOT NULL) AS queued, ' +
    `(SELECT count(*)::integer FROM ${t} WHERE user_name = $1 AND submitted_ms >= $2 ` +
    'AND user_name IS NOT NULL) AS in_window, ' +
    `(SELECT submitted_ms FROM ${t} WHERE user_name = $1 AND submitted_ms >= $2 AND user_name IS NOT NULL ` +
    'ORDER BY submitted_ms DESC LIMIT 1 OFFSET $3) AS nth';
  return {
    async userBacklog(user: string, sinceMs: number, nthNewest: number): Promise<UserBacklog> {
      const [row] = await db.query(backlog, [user, sinceMs, Math.max(0, nthNewest - 1)]);
      const nth = nthNewest >= 1 && row?.['nth'] !== null ? Number(row?.['nth']) : null;
      return {
        queued: Number(row?.['queued'] ?? 0),
        submittedInWindow: Number(row?.['in_window'] ?? 0),
        windowFullSinceMs: nth,
      };
    },
  };
}
