import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import type { Client } from 'pg';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { LATEST_VERSION, MIGRATIONS } from '../../src/store/postgres/migrations/index.js';
import { Database } from '../../src/store/postgres/database.js';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import type { EvaluationStore, StoreChange } from '../../src/store/store.js';
import { eventually } from '../runtime/tracked.js';
import { describePostgres, TestSchemas, withClient } from '../support/postgres.js';
import { claimFor, queuedEvaluation } from './fixtures.js';

const schemas = new TestSchemas();
const opened: EvaluationStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await schemas.dropAll();
});
afterAll(() => schemas.dropAll());

/** A store in `schema` (a new one by default) that the test's cleanup closes. */
function open(schema?: string): EvaluationStore {
  const store = schemas.store(schema);
  opened.push(store);
  return store;
}

describePostgres('PostgreSQL store specifics', (database) => {
  it('createStore opens the schema a ?schema= URL names', async () => {
    const store = await createStore(database().url);
    opened.push(store);
    await store.migrate();
    const evaluation = queuedEvaluation();
    await store.create(evaluation);
    const rows = await withClient((admin) =>
      admin.query(`SELECT id FROM "${database().schema}".evaluations`),
    );
    expect(rows.rows).toEqual([{ id: evaluation.id }]);
  });

  it('runs its statements without JIT, which cost the claim 130-260 ms of compilation per call', async () => {
    const db = new Database({ url: database().url });
    try {
      expect(await db.query<{ jit: string }>('SHOW jit')).toEqual([{ jit: 'off' }]);
      const inTransaction = await db.transaction((tx) => tx.query<{ jit: string }>('SHOW jit'));
      expect(inTransaction).toEqual([{ jit: 'off' }]);
    } finally {
      await db.close();
    }
  });

  it('a claim skips a queued row another transaction holds instead of waiting for it', async () => {
    const store = open();
    await store.migrate();
    const held = queuedEvaluation();
    const next = queuedEvaluation();
    await store.create(held);
    await store.create(next);
    await withClient(async (admin) => {
      await admin.query('BEGIN');
      await admin.query(`SELECT 1 FROM "${schemas.schemaOf(store)}".evaluations WHERE id = $1 FOR UPDATE`, [
        held.id,
      ]);
      const claimed = await store.claimQueued(claimFor('r1', { max: 1 }));
      await admin.query('ROLLBACK');
      expect(claimed.map((c) => c.evaluation.id)).toEqual([next.id]);
    });
    expect((await store.claimQueued(claimFor('r1'))).map((c) => c.evaluation.id)).toEqual([held.id]);
  });

  it('three replicas migrating an empty schema at once make one schema', async () => {
    const schema = schemas.name();
    const replicas = [open(schema), open(schema), open(schema)];
    await Promise.all(replicas.map((store) => store.migrate()));
    const versions = await withClient((admin) =>
      admin.query(`SELECT version FROM "${schema}".schema_version ORDER BY version`),
    );
    // Every step once; versions may have gaps (steps written at the same time), so not simply 1…latest.
    expect(versions.rows.map((r: { version: number }) => r.version)).toEqual(
      MIGRATIONS.map((m) => m.version).sort((a, b) => a - b),
    );
    const created = await replicas[2]!.create(queuedEvaluation());
    expect((await replicas[0]!.transitionsAfter(0, 10)).map((t) => t.seq)).toEqual([created.seq]);
  });

  it('refuses a schema newer than the code', async () => {
    const first = open();
    await first.migrate();
    const schema = schemas.schemaOf(first);
    await withClient((admin) =>
      admin.query(`INSERT INTO "${schema}".schema_version (version, name) VALUES ($1, 'from the future')`, [
        LATEST_VERSION + 1,
      ]),
    );
    await expect(open(schema).migrate()).rejects.toThrow(
      `Database schema version ${LATEST_VERSION + 1} is newer than this Crucible build supports (${LATEST_VERSION})`,
    );
  });

  it('never puts the password into an error: unreachable server, unknown database, malformed URL', async () => {
    const secret = 'S3cr3t-pass%40word';
    const forms = [secret, decodeURIComponent(secret)];
    const attempts: { url: string; expected: RegExp }[] = [
      { url: `postgres://postgres:${secret}@127.0.0.1:1/crucible`, expected: /ECONNREFUSED/ },
      { url: `postgres://postgres:${secret}@127.0.0.1:5432/crucible_no_such_db`, expected: /does not exist/ },
    ];
    for (const { url, expected } of attempts) {
      const store = createPostgresStore({ url, schema: 'crucible_unused' });
      const error: unknown = await store.migrate().then(
        () => null,
        (e: unknown) => e,
      );
      await store.close();
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(expected);
      for (const form of forms) expect(inspect(error, { depth: 10 })).not.toContain(form);
    }
    const malformed = `postgres://postgres:${secret}@127.0.0.1:notaport/crucible`;
    const refusal = await createStore(malformed).then(
      () => null,
      (e: unknown) => e,
    );
    expect((refusal as Error).message).toMatch(/not a valid URL: postgres:\/\/postgres:\*\*\*@/);
    for (const form of forms) expect(inspect(refusal, { depth: 10 })).not.toContain(form);
  });

  it('hands out seqs in commit order: a reader that saw a later commit never misses an earlier-started one', async () => {
    // `slow` starts first and is held inside its transition insert (after it got its seq, before COMMIT) by
    // a trigger waiting on an advisory lock the test holds. With a plain sequence, `fast` would take the next
    // seq and commit; a reader would see it, move past it, and never see `slow`'s smaller seq commit later.
    const writerA = open();
    await writerA.migrate();
    const schema = schemas.schemaOf(writerA);
    const writerB = open(schema);
    const reader = open(schema);
    const slow = queuedEvaluation();
    const fast = queuedEvaluation();
    const holdKey = Math.floor(Math.random() * 1e9);
    await withClient(async (admin) => {
      await admin.query(
        `CREATE FUNCTION "${schema}".hold() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
          `BEGIN PERFORM pg_advisory_xact_lock_shared(${holdKey}); RETURN NEW; END $$`,
      );
      await admin.query(
        `CREATE TRIGGER hold BEFORE INSERT ON "${schema}".transitions FOR EACH ROW ` +
          `WHEN (NEW.evaluation_id = '${slow.id}') EXECUTE FUNCTION "${schema}".hold()`,
      );
      await admin.query('SELECT pg_advisory_lock($1)', [holdKey]);
      const adminPid = await backendPid(admin);

      const slowCreate = writerA.create(slow);
      const slowPid = await blockedBy(admin, adminPid);
      const fastCreate = writerB.create(fast);
      const raceOver = new AbortController();
      const fastOutcome = await Promise.race([
        fastCreate.then(() => 'committed'),
        blockedBy(admin, slowPid, raceOver.signal).then(() => 'waiting for the earlier commit'),
      ]);
      raceOver.abort();
      const seen = await reader.transitionsAfter(0, 100);

      await admin.query('SELECT pg_advisory_unlock($1)', [holdKey]);
      const [slowTransition, fastTransition] = await Promise.all([slowCreate, fastCreate]);
      const rest = await reader.transitionsAfter(seen.at(-1)?.seq ?? 0, 100);
      const everything = [...seen, ...rest].map((t) => t.evaluationId);
      expect(everything).toContain(fast.id);
      expect(everything).toContain(slow.id);
      expect(fastOutcome).toBe('waiting for the earlier commit');
      expect(fastTransition.seq).toBeGreaterThan(slowTransition.seq);
    });
  });

  it('watchChanges reconnects after losing its connection and asks for a resync', async () => {
    const store = open();
    await store.migrate();
    const other = open(schemas.schemaOf(store));
    const changes: StoreChange[] = [];
    const stop = await store.watchChanges!((change) => changes.push(change));
    try {
      const killed = await withClient((admin) =>
        admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
          `crucible-watch:${schemas.schemaOf(store)}`,
        ]),
      );
      expect(killed.rowCount).toBe(1);
      await eventually(() => changes.some((c) => c.kind === 'resync'));
      await other.create(queuedEvaluation());
      await eventually(() => changes.some((c) => c.kind === 'transition'));
    } finally {
      await stop();
    }
  });

  it('a claim of more transitions than a NOTIFY payload holds notifies without them: listeners read', async () => {
    const store = open();
    await store.migrate();
    const other = open(schemas.schemaOf(store));
    for (let i = 0; i < 80; i++) await other.create(queuedEvaluation());
    const changes: StoreChange[] = [];
    const stop = await store.watchChanges!((change) => changes.push(change));
    try {
      const few = await other.claimQueued(claimFor('replica-a', { max: 2 }));
      const many = await other.claimQueued(claimFor('replica-a', { max: 78 }));
      await eventually(() => changes.length === 2);
      expect(changes[0]).toEqual({
        kind: 'transition',
        transitions: few.map((c) => c.transition),
        local: false,
        committedAt: expect.any(Number),
      });
      // 78 transitions are over 7,900 bytes: the commit still wakes every listener, which reads them.
      expect(changes[1]).toEqual({ kind: 'transition' });
      expect((await store.transitionsAfter(few.at(-1)!.transition!.seq, 100)).length).toBe(many.length);
    } finally {
      await stop();
    }
  });

  it('surfaces a lost server as a thrown error on each call, and works again once it answers', async () => {
    const store = open();
    await store.migrate();
    const evaluation = queuedEvaluation();
    await store.create(evaluation);
    // Kill every pooled connection of this store: the next call meets a dead socket or opens a new one.
    await withClient((admin) =>
      admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crucible' " +
          'AND pid <> pg_backend_pid() AND query LIKE $1',
        [`%${schemas.schemaOf(store)}%`],
      ),
    );
    const attempts = await Promise.allSettled([store.get(evaluation.id), store.get(evaluation.id)]);
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') expect(attempt.reason).toBeInstanceOf(Error);
    }
    expect((await store.get(evaluation.id))?.id).toBe(evaluation.id);
  });
});

async function backendPid(client: Client): Promise<number> {
  const result = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return result.rows[0]!.pid;
}

/**
 * Waits until some backend is blocked by `pid` (waiting for one of its locks) and returns that backend's pid;
 * `-1` once `signal` aborts (the race it was part of is decided).
 */
async function blockedBy(admin: Client, pid: number, signal?: AbortSignal): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (!signal?.aborted) {
    const result = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
      [pid],
    );
    if (result.rows[0]) return result.rows[0].pid;
    if (Date.now() > deadline) throw new Error(`no backend became blocked by ${pid}`);
    await sleep(5);
  }
  return -1;
}
