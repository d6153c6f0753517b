import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/objects/index.js';

async function bytesOf(stream: Readable | null): Promise<Buffer> {
  expect(stream).not.toBeNull();
  const chunks: Buffer[] = [];
  for await (const chunk of stream!) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A stream of `total` bytes in small chunks, so an adapter cannot see its length up front. */
function chunked(bytes: Buffer, chunkBytes = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += chunkBytes) yield bytes.subarray(at, at + chunkBytes);
    })(),
  );
}

/**
 * The behaviour every `ObjectStore` adapter shows (the directory and S3 adapters run it). Each test gets a
 * fresh, empty store from `makeStore`.
 */
export function describeObjectStoreConformance(name: string, makeStore: () => Promise<ObjectStore>): void {
  describe(`object store conformance: ${name}`, () => {
    let store: ObjectStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    it('puts a buffer and gets it back, whole and by inclusive ranges', async () => {
      const body = Buffer.from('0123456789abcdef');
      expect(await store.put('evaluations/e1/artifacts/a.txt', body)).toEqual({
        key: 'evaluations/e1/artifacts/a.txt',
        size: 16,
      });
      expect(await bytesOf(await store.get('evaluations/e1/artifacts/a.txt'))).toEqual(body);
      expect(
        (await bytesOf(await store.get('evaluations/e1/artifacts/a.txt', { start: 2, end: 5 }))).toString(),
      ).toBe('2345');
      expect(
        (await bytesOf(await store.get('evaluations/e1/artifacts/a.txt', { start: 10 }))).toString(),
      ).toBe('abcdef');
      expect(await store.head('evaluations/e1/artifacts/a.txt')).toMatchObject({ size: 16 });
    });

    it('puts a stream of unknown length larger than one upload part byte-identical', async () => {
      const body = randomBytes(9 * 1024 * 1024 + 123);
      expect((await store.put('big/blob', chunked(body))).size).toBe(body.length);
      const back = await bytesOf(await store.get('big/blob'));
      expect(back.length).toBe(body.length);
      expect(sha(back)).toBe(sha(body));
      const tail = await bytesOf(await store.get('big/blob', { start: body.length - 10 }));
      expect(tail).toEqual(body.subarray(body.length - 10));
    });

    it('puts an empty object and a small stream', async () => {
      await store.put('e/empty', Buffer.alloc(0));
      expect(await store.head('e/empty')).toMatchObject({ size: 0 });
      expect((await bytesOf(await store.get('e/empty'))).length).toBe(0);
      await store.put('e/small', chunked(Buffer.from('hello'), 2));
      expect((await bytesOf(await store.get('e/small'))).toString()).toBe('hello');
    });

    it('answers null for a missing object and ignores deleting one', async () => {
      expect(await store.get('no/such')).toBeNull();
      expect(await store.head('no/such')).toBeNull();
      await store.delete('no/such');
    });

    it('replaces an object on a second put', async () => {
      await store.put('k/v', Buffer.from('first version'));
      await store.put('k/v', Buffer.from('second'));
      expect((await bytesOf(await store.get('k/v'))).toString()).toBe('second');
      expect(await store.head('k/v')).toMatchObject({ size: 6 });
    });

    it('lists whole path segments under a prefix, sorted, and deletes by prefix', async () => {
      await store.put('evaluations/a/artifacts/x', Buffer.from('1'));
      await store.put('evaluations/a/logs/stdout', Buffer.from('22'));
      await store.put('evaluations/ab/artifacts/y', Buffer.from('333'));
      await store.put('sandboxes/s/snapshot.tar', Buffer.from('4444'));
      expect(await store.list('evaluations/a/')).toEqual([
        { key: 'evaluations/a/artifacts/x', size: 1 },
        { key: 'evaluations/a/logs/stdout', size: 2 },
      ]);
      expect((await store.list('evaluations/a')).map((o) => o.key)).toEqual([
        'evaluations/a/artifacts/x',
        'evaluations/a/logs/stdout',
      ]);
      expect((await store.list('')).map((o) => o.key)).toEqual([
        'evaluations/a/artifacts/x',
        'evaluations/a/logs/stdout',
        'evaluations/ab/artifacts/y',
        'sandboxes/s/snapshot.tar',
      ]);
      expect(await store.list('nothing/')).toEqual([]);
      expect(await store.deletePrefix('evaluations/a/')).toBe(2);
      expect((await store.list('')).map((o) => o.key)).toEqual([
        'evaluations/ab/artifacts/y',
        'sandboxes/s/snapshot.tar',
      ]);
      expect(await store.deletePrefix('nothing/')).toBe(0);
      await store.delete('sandboxes/s/snapshot.tar');
      expect(await store.head('sandboxes/s/snapshot.tar')).toBeNull();
    });

    it('refuses keys that could leave the store root', async () => {
      for (const key of ['', '/abs', 'a/../b', 'a//b', 'a/', './a', 'a/\0']) {
        await expect(store.put(key, Buffer.from('x'))).rejects.toThrow(/invalid object key/);
      }
    });

    it('keeps a failed streamed put invisible', async () => {
      const failing = Readable.from(
        (async function* () {
          yield Buffer.alloc(1024, 1);
          throw new Error('source broke');
        })(),
      );
      await expect(store.put('f/broken', failing)).rejects.toThrow(/source broke/);
      expect(await store.head('f/broken')).toBeNull();
      expect(await store.list('f/')).toEqual([]);
    });
  });
}
