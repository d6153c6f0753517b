import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { artifactKey, type Evaluation, type Result } from '../../src/core/index.js';
import { DirectoryObjectStore, type ObjectStore } from '../../src/objects/index.js';
import { RetentionService } from '../../src/service/retention.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { describePostgres, TestSchemas } from '../support/postgres.js';
import { MemoryLogger } from '../support/in-process.js';
import { chunk, moveTo, queuedEvaluation, succeededResult } from '../store/fixtures.js';

const DAY = 86_400_000;
const NOW = new Date('2026-06-01T00:00:00.000Z');
const dir = mkdtempSync(join(tmpdir(), 'crucible-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RESULT: Result = succeededResult();

/** A terminal evaluation that finished `daysAgo` before NOW, with a log chunk and (optionally) an artifact. */
async function finished(
  store: EvaluationStore,
  objects: ObjectStore,
  daysAgo: number,
  options: { artifact?: boolean; webhook?: boolean; logBytes?: number } = {},
): Promise<Evaluation> {
  const at = new Date(NOW.getTime() - daysAgo * DAY).toISOString();
  const queued = queuedEvaluation({
    createdAt: at,
    timings: { ...queuedEvaluation().timings, submittedAt: at },
  });
  if (options.webhook)
    await store.webhooks!.registerEvaluationWebhook(queued.id, 'https://example.com/hook', at);
  await store.create(queued);
  await store.appendLogs([chunk(queued.id, 1, 'stdout', 'x'.repeat(options.logBytes ?? 16))]);
  const artifacts = options.artifact ? [{ name: 'a.txt', size: 3, sha256: 'f'.repeat(64) }] : undefined;
  if (artifacts) await objects.put(artifactKey(queued.id, 'a.txt'), Buffer.from('abc'));
  const done = moveTo(queued, 'succeeded', {
    timings: { ...queued.timings, dispatchedAt: at, startedAt: at, finishedAt: at, storedAt: at },
    result: { ...RESULT, ...(artifacts ? { artifacts } : {}) },
  });
  await store.saveTransition(done);
  return done.evaluation;
}

function describeRetention(name: string, open: () => Promise<EvaluationStore>, file?: () => string) {
  describe(`retention on ${name}`, () => {
    let store: EvaluationStore;
    let objects: DirectoryObjectStore;
    let retention: RetentionService;
    beforeEach(async () => {
      store = await open();
      await store.migrate();
      objects = new DirectoryObjectStore(mkdtempSync(join(dir, 'objects-')));
      retention = new RetentionService({
        store: store.retention!,
        objects,
        retentionMs: 30 * DAY,
        batchSize: 7,
        now: () => NOW,
        log: new MemoryLogger(),
      });
    });
    afterEach(async () => {
      await store.close();
    });

    it('deletes exactly the old terminal evaluations with their transitions, logs and objects', async () => {
      const old = await finished(store, objects, 40, { artifact: true });
      const oldPlain = await finished(store, objects, 31);
      const recent = await finished(store, objects, 10, { artifact: true });
      const running = queuedEvaluation({ createdAt: new Date(NOW.getTime() - 60 * DAY).toISOString() });
      await store.create(running);
      const pendingWebhook = await finished(store, objects, 50, { webhook: true });

      const dry = await retention.prune({ dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, evaluations: 2, objects: 1 });
      expect(await store.get(old.id)).not.toBeNull();

      const report = await retention.prune();
      expect(report).toMatchObject({ dryRun: false, evaluations: 2, objects: 1 });
      expect(report.cutoff).toBe(new Date(NOW.getTime() - 30 * DAY).toISOString());
      for (const gone of [old, oldPlain]) {
        expect(await store.get(gone.id)).toBeNull();
        expect(await store.readLogs(gone.id)).toEqual([]);
        expect(await store.transitionsOf(gone.id)).toEqual([]);
      }
      expect(await objects.list(`evaluations/${old.id}/`)).toEqual([]);
      // Kept: recent, not terminal, and the one whose webhook delivery is still pending.
      for (const kept of [recent, running, pendingWebhook]) expect(await store.get(kept.id)).not.toBeNull();
      expect(await objects.head(artifactKey(recent.id, 'a.txt'))).not.toBeNull();
      expect((await store.readLogs(recent.id)).length).toBe(1);
      expect(retention.prunedEvaluations).toBe(2);
      expect(retention.prunedObjects).toBe(1);
      expect(await retention.prune()).toMatchObject({ evaluations: 0 });
    });

    it('prunes in batches until none is left, and the store gives the space back', async () => {
      for (let i = 0; i < 60; i++) await finished(store, objects, 45, { logBytes: 32 * 1024 });
      const kept = await finished(store, objects, 1);
      await store.retention!.reclaim();
      const sizeBefore = await store.retention!.sizeBytes();
      const fileBefore = file ? statSync(file()).size : 0;
      const report = await retention.prune();
      expect(report.evaluations).toBe(60);
      expect(await store.get(kept.id)).not.toBeNull();
      if (file) {
        // SQLite: the incremental vacuum returned the freed pages; the file itself shrank.
        expect(report.storeBytesAfter).toBeLessThan(sizeBefore / 2);
        expect(statSync(file()).size).toBeLessThan(fileBefore);
      }
    });
  });
}

let count = 0;
let lastFile = '';
describeRetention(
  'SQLite (file)',
  async () => {
    lastFile = join(dir, `store-${++count}.db`);
    return createSqliteStore({ path: lastFile });
  },
  () => lastFile,
);

describePostgres('retention on PostgreSQL', () => {
  const schemas = new TestSchemas();
  afterAll(() => schemas.dropAll());
  describeRetention('PostgreSQL', async () => schemas.store());
});

describe('crucible prune through the API', () => {
  it('counts with --dry-run, deletes without, and refuses a bad age naming the field', async () => {
    const { inProcess } = await import('../support/in-process.js');
    const { FakeRuntime } = await import('../support/fake-runtime.js');
    const { runCli } = await import('../support/cli-main.js');
    const objects = new DirectoryObjectStore(mkdtempSync(join(dir, 'api-objects-')));
    const world = await inProcess({ runtime: new FakeRuntime(), objects });
    try {
      const url = await (await world.api()).listen({ host: '127.0.0.1', port: 0 });
      const realNow = Date.now();
      const old = await finished(world.store, objects, (realNow - NOW.getTime()) / DAY + 40, {
        artifact: true,
      });
      const dry = await runCli(url, ['prune', '--older-than', '30d', '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/^would delete 1 evaluations and 1 objects finished before /);
      expect(await world.store.get(old.id)).not.toBeNull();
      const real = await runCli(url, ['prune', '--older-than', '30d', '--json']);
      expect(JSON.parse(real.stdout)).toMatchObject({ dryRun: false, evaluations: 1, objects: 1 });
      expect(await world.store.get(old.id)).toBeNull();
      const app = await world.api();
      const bad = await app.inject({ method: 'POST', url: '/v1/prune', payload: { olderThan: 'soon' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.field).toBe('olderThan');
      const none = await app.inject({ method: 'POST', url: '/v1/prune', payload: {} });
      expect(none.statusCode).toBe(400);
      expect(none.json().error.message).toMatch(/no --retention/);
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
    } finally {
      await world.close();
    }
  });
});
