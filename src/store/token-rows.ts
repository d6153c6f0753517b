import type { Row } from './row-mapping.js';
import type { StoredToken } from './tokens.js';

/** The token columns every token query selects, in one order. */
export const TOKEN_COLUMNS =
  'id, secret_hash, user_name, admin, max_running, max_queued, rate_per_minute, created_at';

/** A token row to its record, for both adapters (`integer` is the adapter's: pg hands bigint as text). */
export function toStoredToken(row: Row, integer: (row: Row, column: string) => number): StoredToken {
  const optional = (column: string) => (row[column] === null ? null : integer(row, column));
  return {
    id: String(row['id']),
    secretHash: String(row['secret_hash']),
    user: String(row['user_name']),
    // SQLite has no boolean: 0/1.
    admin: row['admin'] === true || row['admin'] === 1,
    maxRunning: optional('max_running'),
    maxQueued: optional('max_queued'),
    ratePerMinute: optional('rate_per_minute'),
    createdAt: String(row['created_at']),
  };
}

/** The record without its hash (what lists answer). */
export function withoutHash({ secretHash: _hash, ...record }: StoredToken) {
  return record;
}
