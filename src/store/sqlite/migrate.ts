import type { DatabaseSync } from 'node:sqlite';
import { LATEST_VERSION, MIGRATIONS } from './migrations/index.js';
import { Transactor } from './transaction.js';

/**
 * Brings the schema to `LATEST_VERSION` in one IMMEDIATE transaction: every migration not recorded yet applies,
 * in version order, or none does, and two processes starting together cannot both apply the same step (the second waits on the
 * write lock, then sees the new version and does nothing).
 *
 * @throws Error when the database was written by a newer Crucible; running old code on it could corrupt it.
 */
export function migrateDatabase(db: DatabaseSync): void {
  new Transactor(db).run(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )`);
    // By set, not by the highest: a step numbered below one already applied (two written at once, landed
    // in the other order) still applies.
    const applied = new Set(
      db
        .prepare('SELECT version FROM schema_version')
        .all()
        .map((row) => Number(row['version'])),
    );
    const current = Math.max(0, ...applied);
    if (current > LATEST_VERSION) {
      throw new Error(
        `Database schema version ${current} is newer than this Crucible build supports (${LATEST_VERSION}). ` +
          'Upgrade Crucible, or point it at a database created by this version.',
      );
    }
    const record = db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }
  });
}
