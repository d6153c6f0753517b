import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertValidKey,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

/**
 * The default object store: one file per key under a directory (`<dataDir>/objects`). A put writes a
 * temporary file and renames it into place, so readers never see a partial object. Content types are not kept
 * (callers that serve objects derive them from the name).
 */
export class DirectoryObjectStore implements ObjectStore {
  readonly #root: string;
  #tempCounter = 0;

  constructor(root: string) {
    this.#root = path.resolve(root);
  }

  #pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.#root, ...key.split('/'));
  }

  async put(key: string, body: Buffer | Readable, _options?: PutOptions): Promise<ObjectInfo> {
    const target = this.#pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.tmp-${process.pid}-${++this.#tempCounter}`;
    try {
      if (Buffer.isBuffer(body)) await writeFile(temp, body);
      else await pipeline(body, createWriteStream(temp));
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const { size } = await stat(target);
    return { key, size };
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    const file = this.#pathOf(key);
    // Open first so a missing object is null, not a stream that errors later.
    const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (!handle) return null;
    return createReadStream('', { fd: handle, start: range?.start, end: range?.end, autoClose: true });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const info = await stat(this.#pathOf(key)).catch(() => null);
    return info?.isFile() ? { key, size: info.size } : null;
  }

  async delete(key: string): Promise<void> {
    await rm(this.#pathOf(key), { force: true });
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const dir = prefix === '' ? this.#root : this.#pathOf(prefix.replace(/\/$/, ''));
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    const base = prefix === '' ? '' : prefix.replace(/\/?$/, '/');
    const found: ObjectInfo[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || entry.name.includes('.tmp-')) continue;
      const full = path.join(entry.parentPath, entry.name);
      const key = base + path.relative(dir, full).split(path.sep).join('/');
      // An object deleted since the directory was read is not listed.
      const info = await stat(full).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (info) found.push({ key, size: info.size });
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    if (prefix !== '') await rm(this.#pathOf(prefix.replace(/\/$/, '')), { recursive: true, force: true });
    else for (const object of objects) await this.delete(object.key);
    return objects.length;
  }

  async close(): Promise<void> {}
}
