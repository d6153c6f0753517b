import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { RepeatableBody } from '../objects/index.js';

/** Bodies up to this size stay in memory; larger ones go to a temp file. */
const IN_MEMORY_BYTES = 1024 * 1024;

/** A stream read once and kept so it can be uploaded again: its bytes, size and SHA-256. */
export interface Spooled {
  readonly body: RepeatableBody;
  readonly size: number;
  readonly sha256: string;
  /** Removes the temp file, if one was made (idempotent). */
  dispose(): Promise<void>;
}

/**
 * Reads `source` to the end, hashing it, into memory or (past 1 MiB) a temp file under `TMPDIR`, so a write
 * to the object store that fails on a transient error can be repeated: the source stream (a collector's
 * pipe) can be read only once.
 */
export async function spool(source: Readable): Promise<Spooled> {
  const hash = createHash('sha256');
  const parts: Buffer[] = [];
  let size = 0;
  let dir: string | null = null;
  let file: ReturnType<typeof createWriteStream> | null = null;
  const dispose = async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = null;
  };
  try {
    for await (const chunk of source) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      size += bytes.length;
      if (!file && size <= IN_MEMORY_BYTES) {
        parts.push(bytes);
        continue;
      }
      if (!file) {
        dir = await mkdtemp(join(tmpdir(), 'crucible-spool-'));
        file = createWriteStream(join(dir, 'body'), { mode: 0o600 });
        for (const part of parts.splice(0)) file.write(part);
      }
      if (!file.write(bytes)) await new Promise<void>((resolve) => file!.once('drain', () => resolve()));
    }
    if (file) {
      file.end();
      await finished(file);
    }
  } catch (error) {
    file?.destroy();
    await dispose();
    throw error;
  }
  const path = dir ? join(dir, 'body') : null;
  return {
    body: path ? () => createReadStream(path) : Buffer.concat(parts),
    size,
    sha256: hash.digest('hex'),
    dispose,
  };
}
