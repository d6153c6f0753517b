import { integer } from './rows.js';
import type { StatementCache } from './statements.js';
import { TOKEN_COLUMNS, toStoredToken, withoutHash } from '../token-rows.js';
import { TokenTaken, type StoredToken, type TokenRecord, type TokenStore } from '../tokens.js';

/** SQLite's "UNIQUE constraint failed" extended error code. */
const SQLITE_CONSTRAINT_UNIQUE = 2067;

const SQL = {
  insert: `INSERT INTO api_tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  byHash: `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE secret_hash = ?`,
  list: `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY row_order`,
  delete: 'DELETE FROM api_tokens WHERE id = ?',
  count: 'SELECT COUNT(*) AS n FROM api_tokens',
} as const;

/** API tokens on SQLite. */
export function sqliteTokens(statements: StatementCache): TokenStore {
  return {
    async createToken(token: TokenRecord, secretHash: string): Promise<void> {
      try {
        statements
          .get(SQL.insert)
          .run(
            token.id,
            secretHash,
            token.user,
            token.admin ? 1 : 0,
            token.maxRunning,
            token.maxQueued,
            token.ratePerMinute,
            token.createdAt,
          );
      } catch (error) {
        const code = (error as { errcode?: unknown }).errcode;
        if (code === SQLITE_CONSTRAINT_UNIQUE) throw new TokenTaken(token.id);
        throw error;
      }
    },
    async findTokenByHash(secretHash: string): Promise<StoredToken | null> {
      const row = statements.get(SQL.byHash).get(secretHash);
      return row ? toStoredToken(row, integer) : null;
    },
    async listTokens(): Promise<TokenRecord[]> {
      return statements
        .get(SQL.list)
        .all()
        .map((row) => withoutHash(toStoredToken(row, integer)));
    },
    async deleteToken(id: string): Promise<boolean> {
      return Number(statements.get(SQL.delete).run(id).changes) === 1;
    },
    async countTokens(): Promise<number> {
      return Number(statements.get(SQL.count).get()?.['n']);
    },
  };
}
