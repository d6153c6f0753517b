import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Crucible } from '../../src/client/index.js';
import { DEFAULT_LIMITS } from '../../src/core/index.js';
import { StorageGuard } from '../../src/service/storage-guard.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const MiB = 1024 * 1024;
const root = process.getuid?.() === 0;

/** A data directory on its own 16 MiB tmpfs, so "nearly full" is real and does not touch the host's disk. */
(root ? describe : describe.skip)('a nearly full data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'crucible-full-'));
  let world: InProcess;
  let url: string;

  beforeAll(async () => {
    execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'size=16m', 'crucible-full-test', dataDir]);
    const store = createSqliteStore({ path: join(dataDir, 'crucible.db') });
    world = await inProcess({
      runtime: new FakeRuntime(),
      store,
      defaultLimits: DEFAULT_LIMITS,
      storage: new StorageGuard({ path: dataDir, minFreeBytes: 4 * MiB, cacheMs: 0 }),
    });
    url = await (await world.api()).listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await world?.close();
    execFileSync('/usr/bin/umount', ['--lazy', dataDir]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses new work with 503 storage_full, keeps what is stored, and accepts again once space is back', async () => {
    const client = new Crucible({ baseUrl: url, retry: { attempts: 1 } });
    const before = await client.run({ language: 'python', code: 'print(1)' });
    expect(before.status).toBe('succeeded');
    const { bavail, bsize } = await statfs(dataDir);
    // Leave 2 MiB: below the 4 MiB floor.
    writeFileSync(join(dataDir, 'filler'), Buffer.alloc(bavail * bsize - 2 * MiB));
    const app = await world.api();
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: { language: 'python', code: 'print(2)' },
    });
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error.code).toBe('storage_full');
    expect(refused.json().error.message).toMatch(/MiB free, below --min-free-mb 4/);
    const batch = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      payload: { items: [{ language: 'python', code: 'print(3)' }] },
    });
    expect(batch.statusCode).toBe(503);
    expect((await world.store.list({ limit: 10 })).items.map((e) => e.id)).toEqual([before.id]);
    expect((await client.get(before.id)).result?.stdout).toBe('print(1)');
    await expect(client.submit({ language: 'python', code: 'print(4)' })).rejects.toMatchObject({
      code: 'storage_full',
      status: 503,
    });
    rmSync(join(dataDir, 'filler'));
    expect((await client.run({ language: 'python', code: 'print(5)' })).status).toBe('succeeded');
  });
});
