import type { Database } from './database.js';
import { integer } from './rows.js';
import type { SchemaNames } from './sql.js';
import { TOKEN_COLUMNS, toStoredToken, withoutHash } from '../token-rows.js';
import { TokenTaken, type StoredToken, type TokenRecord, type TokenStore } from '../tokens.js';

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

function statements(names: SchemaNames) {
  const t = `${names.quoted}.api_tokens`;
  return {
    insert: `INSERT INTO ${t} (${TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    byHash: `SELECT ${TOKEN_COLUMNS} FROM ${t} WHERE secret_hash = $1`,
    list: `SELECT ${TOKEN_COLUMNS} FROM ${t} ORDER BY row_order`,
    delete: `DELETE FROM ${t} WHERE id = $1 RETURNING id`,
    count: `SELECT count(*)::integer AS n FROM ${t}`,
  };
}

/** API tokens on PostgreSQL, shared by every replica on the schema (a revoke holds everywhere at once). */
export function postgresTokens(db: Database, names: SchemaNames): TokenStore {
  const sql = statements(names);
  return {
    async createToken(token: TokenRecord, secretHash: string): Promise<void> {
      try {
        await db.query(sql.insert, [
          token.id,
          secretHash,
          token.user,
          token.admin,
          token.maxRunning,
          token.maxQueued,
          token.ratePerMinute,
          token.createdAt,
        ]);
      } catch (error) {
        if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) throw new TokenTaken(token.id);
        throw error;
      }
    },
    async findTokenByHash(secretHash: string): Promise<StoredToken | null> {
      const [row] = await db.query(sql.byHash, [secretHash]);
      return row ? toStoredToken(row, integer) : null;
    },
    async listTokens(): Promise<TokenRecord[]> {
      return (await db.query(sql.list)).map((row) => withoutHash(toStoredToken(row, integer)));
    },
    async deleteToken(id: string): Promise<boolean> {
      return (await db.query(sql.delete, [id])).length === 1;
    },
    async countTokens(): Promise<number> {
      const [row] = await db.query(sql.count);
      return row ? integer(row, 'n') : 0;
    },
  };
}
