import type { Readable } from 'node:stream';

/**
 * Where bytes too big or too long-lived for the database go: artifacts, logs past the inline cap, sandbox
 * workspace snapshots. Keys are `/`-separated and chosen by Crucible (never by a program or a client), e.g.
 * `evaluations/<id>/artifacts/<name>`, `sandboxes/<id>/snapshot.tar`.
 *
 * Adapters: DirectoryObjectStore (a directory under the data dir, the default) and S3ObjectStore
 * (`--object-store s3://bucket/prefix`, any S3-compatible service). Both pass test/objects/conformance.
 */
export interface ObjectStore {
  /** Writes the whole object; it becomes visible only once complete (no reader sees half an object). */
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<ObjectInfo>;
  /** The object's bytes, or null when there is none. `range` is inclusive, as HTTP's Range header. */
  get(key: string, range?: ByteRange): Promise<Readable | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Every key under `prefix` (a prefix of whole path segments, e.g. `evaluations/<id>/`), sorted. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deletes every key under `prefix`; returns how many were deleted. */
  deletePrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}

export interface PutOptions {
  contentType?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  contentType?: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive; omitted: to the end. */
  end?: number;
}

/** Keys are ours, but a bug that built one from user input must not escape the store's root. */
export function assertValidKey(key: string): void {
  if (
    key.length === 0 ||
    key.length > 1024 ||
    key.startsWith('/') ||
    key.endsWith('/') ||
    key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..') ||
    key.includes('\0')
  ) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}
