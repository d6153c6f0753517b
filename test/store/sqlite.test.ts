import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { QUEUED_USERS } from '../../src/store/sqlite/fair-candidates.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { LATEST_VERSION, MIGRATIONS } from '../../src/store/sqlite/migrations/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { describeStoreConformance } from './conformance.js';
import { claimFor, moveTo, queuedEvaluation } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'crucible-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
const paths = new WeakMap<EvaluationStore, string>();

function fileStore(path = join(dir, `store-${++fileCount}.db`)): EvaluationStore {
  const store = createSqliteStore({ path });
  paths.set(store, path);
  return store;
}

describeStoreConformance('sqlite (file)', async () => fileStore(), {
  reopen: async (closed) => fileStore(paths.get(closed)),
});

describeStoreConformance('sqlite (:memory:)', async () => createSqliteStore({ path: ':memory:' }));

describe('SQLite store specifics', () => {
  it('refuses a database whose schema is newer than the code', async () => {
    const path = join(dir, 'newer.db');
    const store = createSqliteStore({ path });
    await store.migrate();
    await store.close();

    const raw = new DatabaseSync(path);
    raw
      .prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)')
      .run(LATEST_VERSION + 1, 'from the future', new Date().toISOString());
    raw.close();

    const reopened = createSqliteStore({ path });
    await expect(reopened.migrate()).rejects.toThrow(
      `Database schema version ${LATEST_VERSION + 1} is newer than this Crucible build supports`,
    );
    await reopened.close();
  });

  it('applies the migrations to a fresh database in one step and records their versions', async () => {
    const path = join(dir, 'versions.db');
    const store = createSqliteStore({ path });
    await store.migrate();
    await store.close();
    const raw = new DatabaseSync(path);
    const versions = raw.prepare('SELECT version FROM schema_version ORDER BY version').all();
    const journal = raw.prepare('PRAGMA journal_mode').get();
    raw.close();
    // Every step once; versions may have gaps (steps written at the same time), so not simply 1…latest.
    expect(versions.map((r) => r['version'])).toEqual(MIGRATIONS.map((m) => m.version).sort((x, y) => x - y));
    expect(journal?.['journal_mode']).toBe('wal');
  });

  it('leaves nothing of a failed create behind', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    await store.migrate();
    const evaluation = queuedEvaluation();
    await store.create(evaluation);
    // A duplicate id fails on the evaluations insert; nothing of the second attempt may remain.
    await expect(store.create({ ...evaluation, labels: { a: 'b' } })).rejects.toThrow(/already exists/);
    expect(await store.list({ label: { key: 'a', value: 'b' }, limit: 5 })).toEqual({
      items: [],
      nextCursor: null,
    });
    expect(await store.transitionsOf(evaluation.id)).toHaveLength(1);
    await store.close();
  });

  it('compare-and-set holds across two connections to the same file', async () => {
    const path = join(dir, 'two-connections.db');
    const first = createSqliteStore({ path });
    await first.migrate();
    const second = createSqliteStore({ path });
    await second.migrate();
    const evaluation = queuedEvaluation();
    await first.create(evaluation);

    expect(await second.saveTransition(moveTo(evaluation, 'cancelled'))).not.toBeNull();
    expect(await first.saveTransition(moveTo(evaluation, 'starting'))).toBeNull();
    expect((await first.get(evaluation.id))?.status).toBe('cancelled');
    await first.close();
    await second.close();
  });

  it('after a restart, work claimed before it is orphaned even if its lease was renewed', async () => {
    const path = join(dir, 'restart.db');
    const before = createSqliteStore({ path });
    await before.migrate();
    expect(before.shared).toBe(false);
    await before.create(queuedEvaluation());
    await before.renewLease('replica-1', 60_000);
    const [claimed] = await before.claimQueued(claimFor('replica-1'));
    expect(await before.listOrphans()).toEqual([]);
    await before.close();

    const after = createSqliteStore({ path });
    await after.migrate();
    expect(await after.listOrphans()).toEqual([{ evaluation: claimed!.evaluation, owner: 'replica-1' }]);
    await after.close();
  });

  it('migration 3 gives rows from before it their submitted epoch milliseconds and no owner', async () => {
    const path = join(dir, 'from-v2.db');
    const raw = new DatabaseSync(path);
    raw.exec(
      'CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) {
      raw.exec(migration.sql);
      raw
        .prepare('INSERT INTO schema_version VALUES (?, ?, ?)')
        .run(migration.version, migration.name, 'then');
    }
    const insert = raw.prepare(
      'INSERT INTO evaluations (id, status, language, code, stdin, priority, labels, limits, runtime, ' +
        "created_at, submitted_at) VALUES (?, 'queued', 'python', '', '', ?, '{}', '{}', 'bwrap', ?, ?)",
    );
    // With a 30 s aging interval the later high one goes first (30001 < 30002) only if the milliseconds
    // survive; rounded to seconds the two would tie and go in creation order.
    insert.run('ev_old_normal', 'normal', '2026-01-01T00:00:00.002Z', '2026-01-01T00:00:00.002Z');
    insert.run('ev_old_high', 'high', '2026-01-01T00:00:30.001Z', '2026-01-01T00:00:30.001Z');
    raw.close();

    const store = createSqliteStore({ path });
    await store.migrate();
    const migrated = new DatabaseSync(path);
    const rows = migrated.prepare('SELECT id, submitted_ms, owner FROM evaluations ORDER BY row_order').all();
    migrated.close();
    expect(rows).toEqual([
      { id: 'ev_old_normal', submitted_ms: Date.parse('2026-01-01T00:00:00.002Z'), owner: null },
      { id: 'ev_old_high', submitted_ms: Date.parse('2026-01-01T00:00:30.001Z'), owner: null },
    ]);
    const claimed = await store.claimQueued(claimFor('r1', { dispatch: (e) => moveTo(e, 'starting') }));
    expect(claimed.map((c) => c.evaluation.id)).toEqual(['ev_old_high', 'ev_old_normal']);
    await store.close();
  });

  it('finds the queued users by the fair-user index, one probe each, never by reading the queue', async () => {
    // The planner took evaluations_status_owner (status=?) for each step without the INDEXED BY: every
    // queued row read per user, 3.7 s per claim at 100,000 queued.
    const path = join(dir, 'plan.db');
    const store = createSqliteStore({ path });
    await store.migrate();
    await store.close();
    const raw = new DatabaseSync(path);
    const plan = raw
      .prepare(`EXPLAIN QUERY PLAN ${QUEUED_USERS}`)
      .all()
      .map((row) => String(row['detail']));
    raw.close();
    const searches = plan.filter((detail) => detail.includes('evaluations'));
    expect(searches.length).toBe(2);
    for (const detail of searches)
      expect(detail).toMatch(
        /^SEARCH evaluations USING (COVERING )?INDEX evaluations_fair_user \(user_name>\?\)/,
      );
  });
});
