import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  LOG_SPILL_CHUNK_BYTES,
  logSpillKey,
  spilledChunkRanges,
  type Evaluation,
  type LogChunk,
  type LogSpill,
  type OutputStream,
} from '../core/index.js';
import { putRetried, type ObjectRetryPolicy, type ObjectStore } from '../objects/index.js';

const STREAMS = ['stdout', 'stderr'] as const;

/**
 * One run's output past the inline prefix, appended to a temp file per stream while it runs and uploaded to
 * the object store when it ends (docs/artifacts.md, "Long logs"). Memory stays bounded whatever the program
 * prints: the observer's `output` cannot push back on the runtime, so each chunk is written synchronously to
 * the file (page cache) instead of queued in memory behind an asynchronous write.
 */
export class LogSpillFiles {
  readonly #room: number;
  readonly #bytes: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  readonly #fds: Partial<Record<OutputStream, number>> = {};
  #dir: string | null = null;
  #failed = false;
  /** The run was cancelled or is over: nothing more is written, nor uploaded unless an upload had begun. */
  #discarded = false;
  /** An upload is reading the files: a discard then removes them only once it is done. */
  #storing = false;

  readonly #parent: string;

  /**
   * `room`: bytes per stream kept past the inline prefix (`maxLogBytes - maxOutputBytes`); `parent`: where
   * the run's temp directory is made.
   */
  constructor(room: number, parent = tmpdir()) {
    this.#room = room;
    this.#parent = parent;
  }

  /** Appends what fits of `data`; returns how many of its bytes are kept (the rest is truncated). */
  write(stream: OutputStream, data: Buffer): number {
    const take = Math.min(data.length, this.#room - this.#bytes[stream]);
    if (take <= 0 || this.#failed || this.#discarded) return 0;
    try {
      const fd = this.#fdOf(stream);
      for (let done = 0; done < take;) done += writeSync(fd, data, done, take - done);
    } catch {
      // A full or failing temp disk: keep what was written, report the rest as truncated.
      this.#failed = true;
      return 0;
    }
    this.#bytes[stream] += take;
    return take;
  }

  /** Bytes kept per stream so far. */
  get bytes(): Readonly<Record<OutputStream, number>> {
    return this.#bytes;
  }

  /**
   * Uploads each non-empty stream to `evaluations/<id>/logs/<stream>`, retried on transient errors. Resolves
   * to what the result records (numbered after `afterSeq`), or undefined when nothing was spilled.
   */
  async store(
    objects: ObjectStore,
    evaluationId: string,
    afterSeq: number,
    policy: ObjectRetryPolicy,
    onRetry: (error: unknown, attempt: number) => void,
  ): Promise<LogSpill | undefined> {
    if (this.#discarded || this.#bytes.stdout + this.#bytes.stderr === 0) return undefined;
    this.#storing = true;
    let failed = false;
    let failure: unknown;
    try {
      await this.#upload(objects, evaluationId, policy, onRetry);
    } catch (error) {
      failed = true;
      failure = error;
    } finally {
      this.#storing = false;
    }
    if (!this.#discarded) {
      if (failed) throw failure;
      return { afterSeq, chunkBytes: LOG_SPILL_CHUNK_BYTES, ...this.#bytes };
    }
    // Cancelled while uploading: the cancel is stored first, so no result will name these objects (nor the
    // one stream a failed upload may have stored). The files go last: once they are gone, so are the objects.
    try {
      await Promise.all(STREAMS.map((stream) => objects.delete(logSpillKey(evaluationId, stream))));
    } finally {
      this.#removeFiles();
    }
    return undefined;
  }

  async #upload(
    objects: ObjectStore,
    evaluationId: string,
    policy: ObjectRetryPolicy,
    onRetry: (error: unknown, attempt: number) => void,
  ): Promise<void> {
    for (const stream of STREAMS) {
      if (this.#bytes[stream] === 0) continue;
      const file = this.#pathOf(stream);
      const size = this.#bytes[stream];
      await putRetried(
        objects,
        logSpillKey(evaluationId, stream),
        // Only the bytes counted: a write that failed halfway may have left more in the file.
        () => createReadStream(file, { start: 0, end: size - 1 }),
        { contentType: 'application/octet-stream' },
        policy,
        onRetry,
      );
    }
  }

  /**
   * Closes and removes the temp files (idempotent; during an upload, once it ends); later output is not kept
   * (a cancel's last bytes).
   */
  discard(): void {
    this.#discarded = true;
    for (const stream of STREAMS) {
      const fd = this.#fds[stream];
      if (fd !== undefined) closeSync(fd);
      delete this.#fds[stream];
    }
    if (!this.#storing) this.#removeFiles();
  }

  #removeFiles(): void {
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  #pathOf(stream: OutputStream): string {
    this.#dir ??= mkdtempSync(join(this.#parent, 'crucible-log-'));
    return join(this.#dir, stream);
  }

  #fdOf(stream: OutputStream): number {
    return (this.#fds[stream] ??= openSync(this.#pathOf(stream), 'w', 0o600));
  }
}

/**
 * The spilled chunks of an evaluation with `seq > afterSeq` (of `stream`, or both), read from the object
 * store one range at a time: at most one chunk in memory per reader.
 */
export async function* readSpilledLogs(
  objects: ObjectStore,
  evaluation: Evaluation,
  afterSeq: number,
  stream?: OutputStream,
): AsyncGenerator<LogChunk> {
  const spill = evaluation.result?.logSpill;
  if (!spill) return;
  const at = evaluation.timings.finishedAt ?? evaluation.createdAt;
  for (const range of spilledChunkRanges(spill, afterSeq, stream)) {
    const body = await objects.get(logSpillKey(evaluation.id, range.stream), {
      start: range.start,
      end: range.end - 1,
    });
    if (!body)
      throw new Error(`the stored ${range.stream} of ${evaluation.id} is missing from the object store`);
    yield {
      evaluationId: evaluation.id,
      seq: range.seq,
      stream: range.stream,
      data: await readAll(body),
      at,
    };
  }
}

async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
