import type { UserBacklog } from '../../core/index.js';
import type { QuotaStore } from '../quotas.js';
import type { StatementCache } from './statements.js';

const SQL = {
  // Off `evaluations_fair_user` (held rows are queued too, and count).
  queued:
    "SELECT COUNT(*) AS n FROM evaluations WHERE user_name = ? AND status = 'queued' AND user_name IS NOT NULL",
  // Off `evaluations_user_submitted`.
  inWindow:
    'SELECT COUNT(*) AS n FROM evaluations WHERE user_name = ? AND submitted_ms >= ? AND user_name IS NOT NULL',
  nthNewest:
    'SELECT submitted_ms FROM evaluations WHERE user_name = ? AND submitted_ms >= ? AND user_name IS NOT NULL ' +
    'ORDER BY submitted_ms DESC LIMIT 1 OFFSET ?',
} as const;

/** The quota counts on SQLite (docs/scheduling.md). */
export function sqliteQuotas(statements: StatementCache): QuotaStore {
  return {
    async userBacklog(user: string, sinceMs: number, nthNewest: number): Promise<UserBacklog> {
      const queued = Number(statements.get(SQL.queued).get(user)?.['n']);
      const submittedInWindow = Number(statements.get(SQL.inWindow).get(user, sinceMs)?.['n']);
      const nth =
        nthNewest >= 1 ? statements.get(SQL.nthNewest).get(user, sinceMs, nthNewest - 1) : undefined;
      return {
        queued,
        submittedInWindow,
        windowFullSinceMs: nth ? Number(nth['submitted_ms']) : null,
      };
    },
  };
}
