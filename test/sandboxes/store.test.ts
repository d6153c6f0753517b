import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore, ExecRecord, SandboxRecord, SandboxStore } from '../../src/store/store.js';
import { describePostgres } from '../support/postgres.js';

function sandbox(id: string, overrides: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    user: 'ada',
    project: null,
    language: 'python',
    status: 'ready',
    memoryMb: 256,
    workspaceMb: 256,
    idleTimeoutSeconds: 300,
    maxLifetimeSeconds: null,
    labels: { team: 'x' },
    env: { A: '1' },
    runtime: 'bwrap',
    snapshotKey: null,
    snapshotBytes: null,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    lastActiveAt: '2026-01-01T00:00:00.000Z',
    hibernatedAt: null,
    terminatedAt: null,
    owner: null,
    ...overrides,
  };
}

/** A `running` exec of sandbox s3. */
function runningExec(id: string, argv: string[], startedAt: string): ExecRecord {
  return { id, sandboxId: 's3', argv, status: 'running', exit: null, startedAt, finishedAt: null };
}

function describeSandboxStore(name: string, open: () => EvaluationStore): void {
  describe(`sandbox store on ${name}`, () => {
    let store: EvaluationStore;
    let sandboxes: SandboxStore;
    beforeAll(async () => {
      store = open();
      await store.migrate();
      sandboxes = store.sandboxes as SandboxStore;
    });
    afterAll(() => store.close());

    it('stores, lists newest first, counts and compare-and-sets sandboxes', async () => {
      await sandboxes.insertSandbox(sandbox('s1'));
      await sandboxes.insertSandbox(sandbox('s2', { user: 'bob', status: 'hibernated' }));
      await sandboxes.insertSandbox(sandbox('s3'));
      expect(await sandboxes.getSandbox('s1')).toEqual(sandbox('s1'));
      expect((await sandboxes.listSandboxes({ limit: 10 })).map((s) => s.id)).toEqual(['s3', 's2', 's1']);
      expect((await sandboxes.listSandboxes({ user: 'ada', limit: 10 })).map((s) => s.id)).toEqual([
        's3',
        's1',
      ]);
      expect((await sandboxes.listSandboxes({ status: 'hibernated', limit: 10 })).map((s) => s.id)).toEqual([
        's2',
      ]);
      expect(await sandboxes.countSandboxes('ada', ['ready', 'hibernated'])).toBe(2);
      const after = await sandboxes.updateSandbox('s1', ['ready'], {
        status: 'hibernated',
        snapshotKey: 'sandboxes/s1/workspace.tar',
        snapshotBytes: 10240,
        hibernatedAt: '2026-01-01T00:05:00.000Z',
      });
      expect(after).toMatchObject({
        status: 'hibernated',
        snapshotKey: 'sandboxes/s1/workspace.tar',
        snapshotBytes: 10240,
      });
      expect(await sandboxes.updateSandbox('s1', ['ready'], { status: 'terminated' })).toBeNull();
      expect((await sandboxes.getSandbox('s1'))?.status).toBe('hibernated');
    });

    it('sets a sandbox only while its owner is the expected one, and knows live replicas and their URLs', async () => {
      await sandboxes.insertSandbox(sandbox('o1', { owner: 'replica-a' }));
      expect(await sandboxes.updateSandbox('o1', ['ready'], { owner: 'replica-b' }, 'replica-c')).toBeNull();
      expect(await sandboxes.updateSandbox('o1', ['ready'], { owner: null }, 'replica-a')).toMatchObject({
        owner: null,
      });
      expect(await sandboxes.updateSandbox('o1', ['ready'], { owner: 'replica-b' }, null)).toMatchObject({
        owner: 'replica-b',
      });
      expect(await store.liveReplica!('replica-a')).toBeNull();
      await store.renewLease('replica-a', 60_000);
      expect(await store.liveReplica!('replica-a')).toEqual({ url: null });
      await store.advertiseReplica!('replica-a', 'http://10.0.0.1:8080');
      await store.renewLease('replica-a', 60_000);
      expect(await store.liveReplica!('replica-a')).toEqual({ url: 'http://10.0.0.1:8080' });
      await store.dropLease('replica-a');
      expect(await store.liveReplica!('replica-a')).toBeNull();
    });

    it('claims an idempotency key once per scope', async () => {
      expect(await sandboxes.claimKey('user:ada', 'k1', 'f1', 'exec-1')).toBeNull();
      expect(await sandboxes.claimKey('user:ada', 'k1', 'f2', 'exec-2')).toEqual({
        fingerprint: 'f1',
        targetId: 'exec-1',
      });
      expect(await sandboxes.claimKey('user:bob', 'k1', 'f2', 'exec-3')).toBeNull();
      await sandboxes.releaseKey('user:ada', 'k1');
      expect(await sandboxes.claimKey('user:ada', 'k1', 'f4', 'exec-4')).toBeNull();
    });

    it('keeps execs and their numbered output, readable after a given seq, duplicates ignored', async () => {
      await sandboxes.insertExec(runningExec('e1', ['echo', 'hi'], 't0'));
      const chunks = [1, 2, 3].map((seq) => ({
        execId: 'e1',
        seq,
        stream: seq === 2 ? ('stderr' as const) : ('stdout' as const),
        data: Buffer.from([0, seq, 255]),
      }));
      await sandboxes.appendExecLogs(chunks);
      await sandboxes.appendExecLogs([chunks[2]!]);
      expect(await sandboxes.readExecLogs('e1', 1, 100)).toEqual(chunks.slice(1));
      const exit = {
        exitCode: 0,
        signal: null,
        timedOut: false,
        oomKilled: false,
        truncated: false,
        durationMs: 3,
        cpuMs: 1,
        peakMemoryBytes: 1024,
      };
      await sandboxes.finishExec('e1', 'finished', exit, 't1');
      expect(await sandboxes.getExec('e1')).toMatchObject({
        status: 'finished',
        exit,
        finishedAt: 't1',
        argv: ['echo', 'hi'],
      });
      await sandboxes.insertExec(runningExec('e2', ['sleep', '9'], 't2'));
      expect(await sandboxes.loseRunningExecs('t3', 'other-sandbox')).toBe(0);
      expect(await sandboxes.loseRunningExecs('t3', 's3')).toBe(1);
      expect((await sandboxes.listExecs('s3', 10)).map((e) => `${e.id}:${e.status}`)).toEqual([
        'e2:lost',
        'e1:finished',
      ]);
    });
  });
}

describeSandboxStore('SQLite', () => createSqliteStore({ path: ':memory:' }));
describePostgres('sandbox store on PostgreSQL', (database) => {
  describeSandboxStore('PostgreSQL', () =>
    createPostgresStore({ url: database().url.split('?')[0]!, schema: database().schema }),
  );
});
