import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import { SYSTEM_CALLER } from '../../src/service/caller.js';
import { SandboxService } from '../../src/service/sandboxes.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore, SandboxStore } from '../../src/store/store.js';
import { LOCAL_SANDBOX_MISSING } from './harness.js';

const log = { info: () => undefined, warn: () => undefined };

describe.skipIf(LOCAL_SANDBOX_MISSING !== null)('sandbox lifecycle in the service (bwrap)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crucible-sbx-lifecycle-'));
  let store: EvaluationStore;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const service = async (replica?: string) =>
    new SandboxService({
      store: store.sandboxes as SandboxStore,
      runtime: await createLocalSandboxRuntime({ warmPoolSize: 0 }),
      objects: new DirectoryObjectStore(join(dir, 'objects')),
      log,
      now: () => new Date(clock),
      sweepIntervalMs: 3_600_000,
      ...(replica
        ? {
            replica: {
              id: replica,
              directory: {
                liveReplica: (r: string) => store.liveReplica!(r),
                advertiseReplica: (r: string, url: string) => store.advertiseReplica!(r, url),
              },
            },
          }
        : {}),
    });
  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir, 'store.db') });
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hibernates after idleTimeoutSeconds, not while an exec runs, and terminates past maxLifetimeSeconds', async () => {
    const sandboxes = await service();
    await sandboxes.start();
    try {
      const idle = await sandboxes.create(SYSTEM_CALLER, {
        idleTimeoutSeconds: 10,
        files: [{ path: 'f', content: 'kept' }],
      });
      const busy = await sandboxes.create(SYSTEM_CALLER, { idleTimeoutSeconds: 10 });
      const old = await sandboxes.create(SYSTEM_CALLER, { maxLifetimeSeconds: 60 });
      const running = await sandboxes.exec(SYSTEM_CALLER, busy.id, { command: ['sleep', '30'] });
      clock += 11_000;
      await sandboxes.sweep();
      expect((await sandboxes.get(SYSTEM_CALLER, idle.id)).status).toBe('hibernated');
      expect((await sandboxes.get(SYSTEM_CALLER, busy.id)).status).toBe('ready');
      expect((await sandboxes.get(SYSTEM_CALLER, old.id)).status).toBe('ready');
      clock += 60_000;
      await sandboxes.sweep();
      expect((await sandboxes.get(SYSTEM_CALLER, old.id)).status).toBe('terminated');
      expect(await sandboxes.readFile(SYSTEM_CALLER, idle.id, 'f')).toEqual(Buffer.from('kept'));
      expect((await sandboxes.get(SYSTEM_CALLER, idle.id)).status).toBe('ready');
      await sandboxes.terminate(SYSTEM_CALLER, busy.id);
      expect(await running.capture?.done).toMatchObject({ status: 'lost', exit: null });
    } finally {
      await sandboxes.close();
    }
  });

  it('a graceful stop hibernates live sandboxes; the next server resumes them with their files', async () => {
    const first = await service();
    await first.start();
    const s = await first.create(SYSTEM_CALLER, {
      files: [{ path: 'data/x.txt', content: 'across restarts' }],
    });
    await first.close();
    expect((await store.sandboxes?.getSandbox(s.id))?.status).toBe('hibernated');
    const second = await service();
    await second.start();
    try {
      expect((await second.readFile(SYSTEM_CALLER, s.id, 'data/x.txt')).toString()).toBe('across restarts');
    } finally {
      await second.close();
    }
  });

  it('after a crash the restarted replica resumes a sandbox from its last snapshot; one without is lost', async () => {
    const crashed = await service('replica-1');
    await crashed.start();
    const kept = await crashed.create(SYSTEM_CALLER, { files: [{ path: 'f', content: 'snapshotted' }] });
    await crashed.hibernate(SYSTEM_CALLER, kept.id);
    await crashed.writeFile(SYSTEM_CALLER, kept.id, 'later', Buffer.from('lost with the crash'));
    const never = await crashed.create(SYSTEM_CALLER, {});
    // No close(): the process "died" (its instances are torn down without hibernating, as a crash would).
    const restarted = await service('replica-1');
    await restarted.start();
    try {
      const record = await restarted.get(SYSTEM_CALLER, kept.id);
      expect(record).toMatchObject({ status: 'hibernated' });
      expect(record.error).toMatch(
        /the server restarted: resumed from its snapshot of .*changes made after it were lost/,
      );
      expect((await restarted.readFile(SYSTEM_CALLER, kept.id, 'f')).toString()).toBe('snapshotted');
      await expect(restarted.readFile(SYSTEM_CALLER, kept.id, 'later')).rejects.toMatchObject({
        code: 'not_found',
      });
      expect(await restarted.get(SYSTEM_CALLER, never.id)).toMatchObject({
        status: 'error',
        error: expect.stringMatching(/^lost: the server restarted before the sandbox was ever hibernated/),
      });
      // The old process, still around here, must not write over what the new one owns now.
      await restarted.hibernate(SYSTEM_CALLER, kept.id);
      const snapshot = (await restarted.get(SYSTEM_CALLER, kept.id)).snapshotBytes;
      await crashed.close();
      expect((await restarted.get(SYSTEM_CALLER, kept.id)).snapshotBytes).toBe(snapshot);
      expect((await restarted.readFile(SYSTEM_CALLER, kept.id, 'f')).toString()).toBe('snapshotted');
      await expect(restarted.readFile(SYSTEM_CALLER, kept.id, 'later')).rejects.toMatchObject({
        code: 'not_found',
      });
    } finally {
      await restarted.close();
      await crashed.close();
    }
  });
});
