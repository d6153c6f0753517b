import { advisoryKey, type Database, type Queryable } from './database.js';
import { LATEST_VERSION, MIGRATIONS } from './migrations/index.js';
import type { SchemaNames } from './sql.js';

/**
 * Brings the schema to `LATEST_VERSION` in one transaction (PostgreSQL DDL is transactional: every pending
 * step applies or none does). Several replicas may start at once on an empty database, so the transaction
 * first takes an advisory lock for this schema: the others wait, then find the new version and do nothing.
 *
 * @throws Error when the schema was written by a newer Crucible; running old code on it could corrupt it.
 */
export async function migrateSchema(db: Database, names: SchemaNames): Promise<void> {
  const migrating = async (tx: Queryable) => {
    // Checked before CREATE: CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database.
    const exists = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [names.schema]);
    if (exists.length === 0) await tx.exec(`CREATE SCHEMA ${names.quoted}`);
    await tx.exec(`CREATE TABLE IF NOT EXISTS ${names.quoted}.schema_version (
      version    integer PRIMARY KEY,
      name       text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    // By set, not by the highest: a step numbered below one already applied (two written at once, landed
    // in the other order) still applies.
    const rows = await tx.query<{ version: number }>(`SELECT version FROM ${names.quoted}.schema_version`);
    const applied = new Set(rows.map((row) => Number(row.version)));
    const current = Math.max(0, ...applied);
    if (current > LATEST_VERSION) {
      throw new Error(
        `Database schema version ${current} is newer than this Crucible build supports (${LATEST_VERSION}). ` +
          'Upgrade Crucible, or point it at a database created by this version.',
      );
    }
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await tx.exec(migration.sql.replaceAll('{schema}', names.quoted));
      await tx.query(`INSERT INTO ${names.quoted}.schema_version (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
  };
  await db.transaction(migrating, { advisoryLock: advisoryKey(names.schema, 'migrate') });
}
