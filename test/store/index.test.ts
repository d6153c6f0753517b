import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';

const RECORDER = fileURLToPath(new URL('../cli/record-modules.mjs', import.meta.url));
const STORE_INDEX = fileURLToPath(new URL('../../src/store/index.ts', import.meta.url));

/** Every module a fresh process resolves while it opens, migrates and closes a store at `url`. */
async function modulesLoadedOpening(url: string): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-store-modules-'));
  const log = path.join(dir, 'modules.json');
  try {
    const script =
      `const { createStore } = await import(${JSON.stringify(STORE_INDEX)});` +
      `const store = await createStore(${JSON.stringify(url)});` +
      (url.startsWith('sqlite') ? 'await store.migrate();' : '') +
      'await store.close();';
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', RECORDER, '--input-type=module', '-e', script],
      { env: { ...process.env, CRUCIBLE_MODULE_LOG: log }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(code, stderr).toBe(0);
    return JSON.parse(await readFile(log, 'utf8')) as string[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('createStore', () => {
  it('opens SQLite for sqlite: URLs', async () => {
    const store = await createStore('sqlite::memory:');
    await store.migrate();
    expect(store.shared).toBe(false);
    expect(await store.list({ limit: 1 })).toEqual({ items: [], nextCursor: null });
    await store.close();
  });

  it('opens PostgreSQL for postgres:// and postgresql:// URLs without connecting yet', async () => {
    for (const url of [
      'postgres://nobody@127.0.0.1:1/crucible',
      'postgresql://nobody@127.0.0.1:1/x?schema=s1',
    ]) {
      const store = await createStore(url);
      expect(store.shared).toBe(true);
      await store.close();
    }
  });

  it('refuses a PostgreSQL schema name that would need quoting', async () => {
    await expect(createStore('postgres://127.0.0.1/crucible?schema=Robert%22)%3B')).rejects.toThrow(
      /not a plain lower-case identifier/,
    );
  });

  it('loads the PostgreSQL driver only for a PostgreSQL URL', async () => {
    const isDriver = (url: string) => /\/node_modules\/pg(-[a-z]+)?\//.test(url);
    expect((await modulesLoadedOpening('sqlite::memory:')).filter(isDriver)).toEqual([]);
    expect((await modulesLoadedOpening('postgres://nobody@127.0.0.1:1/crucible')).some(isDriver)).toBe(true);
  });

  it('refuses other schemes instead of treating them as file names', async () => {
    await expect(createStore('mysql://localhost/crucible')).rejects.toThrow(/unsupported store URL/);
  });
});
