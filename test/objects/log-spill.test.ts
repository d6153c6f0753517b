import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DirectoryObjectStore, type ObjectStore, type PutOptions } from '../../src/objects/index.js';
import { LogSpillFiles } from '../../src/service/log-spill.js';

const POLICY = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };
let root: string;
beforeEach(async () => void (root = await mkdtemp(join(tmpdir(), 'crucible-spill-'))));
afterEach(() => rm(root, { recursive: true, force: true }));

/** A directory store whose first put waits for `release` before reading its body. */
function heldStore(): { objects: ObjectStore; putStarted: Promise<void>; release: () => void } {
  const inner = new DirectoryObjectStore(root);
  let started!: () => void;
  let release!: () => void;
  const putStarted = new Promise<void>((resolve) => (started = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const objects: ObjectStore = {
    put: async (key: string, body: Buffer | Readable, options?: PutOptions) => {
      started();
      await released;
      return inner.put(key, body, options);
    },
    get: (key, range) => inner.get(key, range),
    head: (key) => inner.head(key),
    delete: (key) => inner.delete(key),
    list: (prefix) => inner.list(prefix),
    deletePrefix: (prefix) => inner.deletePrefix(prefix),
    close: () => inner.close(),
  };
  return { objects, putStarted, release };
}

/** This file's spills go to a directory of its own: other test files spill into the shared tmpdir. */
const spillDirs = async () => (await readdir(root)).filter((name) => name.startsWith('crucible-log-'));

it('a cancel during the upload neither breaks it nor leaves temp files or objects behind', async () => {
  const spill = new LogSpillFiles(1024, root);
  expect(spill.write('stdout', Buffer.from('out'.repeat(100)))).toBe(300);
  expect(spill.write('stderr', Buffer.from('err'.repeat(50)))).toBe(150);
  const { objects, putStarted, release } = heldStore();

  const stored = spill.store(objects, 'ev1', 7, POLICY, () => undefined);
  await putStarted;
  spill.discard(); // the cancel's clean-up, while stdout's upload waits
  expect(spill.write('stdout', Buffer.from('late'))).toBe(0);
  release();

  expect(await stored).toBeUndefined();
  expect(await objects.list('evaluations/')).toEqual([]);
  expect(await spillDirs()).toEqual([]);
});

it("a cancelled upload's files outlast its objects: once they are gone, nothing of it is stored", async () => {
  const spill = new LogSpillFiles(1024, root);
  spill.write('stdout', Buffer.from('out'.repeat(100)));
  const held = heldStore();
  let deleteStarted!: () => void;
  let releaseDelete!: () => void;
  const deleting = new Promise<void>((resolve) => (deleteStarted = resolve));
  const deleteReleased = new Promise<void>((resolve) => (releaseDelete = resolve));
  const objects: ObjectStore = {
    ...held.objects,
    delete: async (key) => {
      deleteStarted();
      await deleteReleased;
      return held.objects.delete(key);
    },
  };

  const stored = spill.store(objects, 'ev1', 7, POLICY, () => undefined);
  await held.putStarted;
  spill.discard();
  held.release();
  await deleting;
  // The objects are being deleted: the files are still there, so a reader waiting for them to go (the
  // end-to-end test does) cannot see the objects after them.
  expect((await spillDirs()).length).toBe(1);
  releaseDelete();
  expect(await stored).toBeUndefined();
  expect(await spillDirs()).toEqual([]);
  expect(await objects.list('evaluations/')).toEqual([]);
});

it('a discarded spill uploads nothing and removes its files at once', async () => {
  const spill = new LogSpillFiles(1024, root);
  spill.write('stdout', Buffer.from('x'));
  expect(await spillDirs()).toHaveLength(1);
  spill.discard();
  expect(await spillDirs()).toEqual([]);
  const objects = new DirectoryObjectStore(root);
  expect(await spill.store(objects, 'ev2', 1, POLICY, () => undefined)).toBeUndefined();
  expect(existsSync(join(root, 'evaluations'))).toBe(false);
});
