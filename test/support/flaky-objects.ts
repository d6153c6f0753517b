import type { Readable } from 'node:stream';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions } from '../../src/objects/index.js';

/** A failure the way a network or a store shows it: an errno-style code (ECONNRESET, ENOSPC…). */
export function storeError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`injected ${code}`), { code });
}

/**
 * An ObjectStore that delegates to a real one and fails writes on demand: each of the next puts of a key
 * (`failPuts`) reads part of its body first, then throws, as a connection reset halfway through an upload
 * would. Everything else, and every put once the failures are used up, is the inner store's.
 */
export class FlakyObjectStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #failures: {
    match: (key: string) => boolean;
    times: number;
    error: () => Error;
    seen: Map<string, number>;
  }[] = [];
  /** Every put attempted, in order, failed or not. */
  readonly attempts: string[] = [];

  constructor(inner: ObjectStore) {
    this.#inner = inner;
  }

  /** The next `times` puts of each key `match` accepts fail with `error` (Infinity: all of them). */
  failPuts(match: (key: string) => boolean, times: number, error: () => Error): void {
    this.#failures.push({ match, times, error, seen: new Map() });
  }

  async put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<ObjectInfo> {
    this.attempts.push(key);
    const failure = this.#failures.find((f) => f.match(key) && (f.seen.get(key) ?? 0) < f.times);
    if (failure) {
      failure.seen.set(key, (failure.seen.get(key) ?? 0) + 1);
      if (!Buffer.isBuffer(body)) {
        // Half an upload: some bytes read, then the error; the stream cannot be read again.
        for await (const _ of body) break;
        body.destroy();
      }
      throw failure.error();
    }
    return this.#inner.put(key, body, options);
  }

  get(key: string, range?: ByteRange): Promise<Readable | null> {
    return this.#inner.get(key, range);
  }
  head(key: string): Promise<ObjectInfo | null> {
    return this.#inner.head(key);
  }
  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.#inner.list(prefix);
  }
  deletePrefix(prefix: string): Promise<number> {
    return this.#inner.deletePrefix(prefix);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
