import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { artifactKey, logSpillKey, type Evaluation, type Result } from '../../src/core/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { parseRetentionRule, prunePasses } from '../../src/service/retention-rules.js';
import { RetentionService } from '../../src/service/retention.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { MemoryLogger } from '../support/in-process.js';
import { describePostgres, TestSchemas } from '../support/postgres.js';
import { moveTo, queuedEvaluation, succeededResult } from '../store/fixtures.js';

const DAY = 86_400_000;
const NOW = new Date('2026-06-01T00:00:00.000Z');
const dir = mkdtempSync(join(tmpdir(), 'crucible-retention-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RESULT: Result = succeededResult();
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

function finishedWrite(evaluation: Evaluation, days: number, result: Result = RESULT) {
  const at = daysAgo(days);
  return moveTo(evaluation, 'succeeded', {
    timings: { ...evaluation.timings, dispatchedAt: at, startedAt: at, finishedAt: at, storedAt: at },
    result,
  });
}

describe('retention rules', () => {
  it('parse label:KEY=VALUE=AGE and user:NAME=AGE, refusing anything else by name', () => {
    expect(parseRetentionRule('label:team=a=7d')).toEqual({
      text: 'label:team=a=7d',
      match: { kind: 'label', key: 'team', value: 'a' },
      ageMs: 7 * DAY,
    });
    expect(parseRetentionRule('user:alice=90d').match).toEqual({ kind: 'user', user: 'alice' });
    expect(parseRetentionRule('label:legal-hold=true=forever').ageMs).toBeNull();
    for (const bad of ['team=a=7d', 'label:team=7d', 'label:team=a=soon', 'user:=1d', 'label:t eam=a=1d']) {
      expect(() => parseRetentionRule(bad)).toThrow(/--retention-for .*label:KEY=VALUE=AGE or user:NAME=AGE/);
    }
  });

  it('plan one pass per aged rule, excluding what a longer rule keeps, and a default pass', () => {
    const rules = ['label:team=a=7d', 'user:alice=90d', 'label:hold=yes=forever'].map(parseRetentionRule);
    const passes = prunePasses(rules, 30 * DAY);
    expect(passes.map((p) => [p.rule, p.ageMs, p.scope.except.length])).toEqual([
      ['label:team=a=7d', 7 * DAY, 2],
      ['user:alice=90d', 90 * DAY, 1],
      [null, 30 * DAY, 3],
    ]);
    expect(prunePasses(rules, undefined).map((p) => p.rule)).toEqual(['label:team=a=7d', 'user:alice=90d']);
  });
});

function describeRules(name: string, open: () => Promise<EvaluationStore>) {
  describe(`per-label and per-user retention on ${name}`, () => {
    let store: EvaluationStore;
    let objects: DirectoryObjectStore;
    beforeEach(async () => {
      store = await open();
      await store.migrate();
      objects = new DirectoryObjectStore(mkdtempSync(join(dir, 'objects-')));
    });
    afterEach(async () => {
      await store.close();
    });

    async function finished(
      days: number,
      who: { labels?: Record<string, string>; user?: string; webhook?: boolean } = {},
    ): Promise<Evaluation> {
      const queued = queuedEvaluation({
        labels: who.labels ?? {},
        ...(who.user ? { user: who.user } : {}),
        createdAt: daysAgo(days),
      });
      if (who.webhook)
        await store.webhooks!.registerEvaluationWebhook(queued.id, 'https://example.com/h', daysAgo(days));
      await store.create(queued);
      const spill = { afterSeq: 0, chunkBytes: 4, stdout: 3, stderr: 0 };
      await objects.put(logSpillKey(queued.id, 'stdout'), Buffer.from('abc'));
      await objects.put(artifactKey(queued.id, 'a.txt'), Buffer.from('abc'));
      const artifacts = [{ name: 'a.txt', size: 3, sha256: 'f'.repeat(64) }];
      const done = finishedWrite(queued, days, { ...RESULT, artifacts, logSpill: spill });
      await store.saveTransition(done);
      return done.evaluation;
    }

    it('deletes exactly the evaluations past their own age, objects included; pending deliveries keep theirs', async () => {
      const rules = ['label:team=a=7d', 'user:alice=90d', 'label:hold=yes=forever'].map(parseRetentionRule);
      const retention = new RetentionService({
        store: store.retention!,
        objects,
        retentionMs: 30 * DAY,
        rules,
        batchSize: 3,
        now: () => NOW,
        log: new MemoryLogger(),
      });
      const gone = {
        teamA10: await finished(10, { labels: { team: 'a' } }),
        teamA8: await finished(8, { labels: { team: 'a', other: 'x' } }),
        plain40: await finished(40),
        teamB40: await finished(40, { labels: { team: 'b' } }),
        alice100: await finished(100, { user: 'alice' }),
        bob40: await finished(40, { user: 'bob' }),
      };
      const kept = {
        teamA5: await finished(5, { labels: { team: 'a' } }),
        plain20: await finished(20),
        alice40: await finished(40, { user: 'alice' }),
        // Two rules: the longer age wins (alice's 90 days over team a's 7).
        aliceTeamA40: await finished(40, { user: 'alice', labels: { team: 'a' } }),
        held400: await finished(400, { labels: { hold: 'yes', team: 'a' } }),
        heldAlice400: await finished(400, { labels: { hold: 'yes' }, user: 'alice' }),
        pendingWebhook: await finished(20, { labels: { team: 'a' }, webhook: true }),
      };
      // A batch item past team a's 7 days, its batch unfinished (another item still queued): kept.
      const batchItem = queuedEvaluation({ labels: { team: 'a' } });
      const batchOther = queuedEvaluation({ labels: { team: 'a' } });
      await store.batches!.createBatch(
        {
          id: `batch_${Date.now()}`,
          total: 2,
          labels: {},
          createdAt: daysAgo(9),
          webhookUrl: null,
          user: null,
        },
        [{ evaluation: batchItem }, { evaluation: batchOther }],
      );
      await store.saveTransition(finishedWrite(batchItem, 9));

      const dry = await retention.prune({ dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, evaluations: 6, objects: 12 });
      expect(dry.rules).toEqual([
        { rule: 'label:team=a=7d', cutoff: daysAgo(7), evaluations: 2 },
        { rule: 'user:alice=90d', cutoff: daysAgo(90), evaluations: 1 },
      ]);
      for (const e of Object.values(gone)) expect(await store.get(e.id)).not.toBeNull();

      const report = await retention.prune();
      expect(report).toMatchObject({ dryRun: false, evaluations: 6, objects: 12, cutoff: daysAgo(30) });
      for (const e of Object.values(gone)) {
        expect(await store.get(e.id)).toBeNull();
        expect(await objects.list(`evaluations/${e.id}/`)).toEqual([]);
      }
      for (const e of [...Object.values(kept), batchItem, batchOther])
        expect(await store.get(e.id)).not.toBeNull();
      expect(await objects.head(logSpillKey(kept.alice40.id, 'stdout'))).not.toBeNull();
      expect(await retention.prune()).toMatchObject({ evaluations: 0 });
    });

    it('with rules and no default age, evaluations matched by no rule are kept', async () => {
      const retention = new RetentionService({
        store: store.retention!,
        objects,
        rules: [parseRetentionRule('label:team=a=7d')],
        now: () => NOW,
        log: new MemoryLogger(),
      });
      const old = await finished(10, { labels: { team: 'a' } });
      const plain = await finished(1000);
      expect(await retention.prune()).toMatchObject({ evaluations: 1, cutoff: null });
      expect(await store.get(old.id)).toBeNull();
      expect(await store.get(plain.id)).not.toBeNull();
    });
  });
}

let count = 0;
describeRules('SQLite (file)', async () => createSqliteStore({ path: join(dir, `store-${++count}.db`) }));

describePostgres('retention rules on PostgreSQL', () => {
  const schemas = new TestSchemas();
  afterAll(() => schemas.dropAll());
  describeRules('PostgreSQL', async () => schemas.store());
});
