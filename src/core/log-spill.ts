import type { OutputStream } from './evaluation.js';

/**
 * Output past the inline prefix (`limits.maxOutputBytes` per stream, stored as log chunks in the database)
 * kept in the object store up to `limits.maxLogBytes` per stream (docs/artifacts.md, "Long logs"). Pure: the
 * keys and how the stored bytes are numbered as log chunks; the service writes and reads them.
 */
export interface LogSpill {
  /** The last seq stored in the database: spilled chunks are numbered after it, stdout's then stderr's. */
  readonly afterSeq: number;
  /** Bytes per numbered chunk (the last of a stream may be shorter). */
  readonly chunkBytes: number;
  /** Bytes past the inline prefix kept per stream. */
  readonly stdout: number;
  readonly stderr: number;
}

/** The largest `maxLogBytes` a submission may ask for unless the server says otherwise (`--max-log-mb`). */
export const DEFAULT_MAX_LOG_MB = 256;
export const LOG_SPILL_CHUNK_BYTES = 256 * 1024;

export function logSpillKey(evaluationId: string, stream: OutputStream): string {
  return `evaluations/${evaluationId}/logs/${stream}`;
}

/** One numbered chunk of a spilled stream: `[start, end)` of its object. */
export interface SpilledChunkRange {
  readonly seq: number;
  readonly stream: OutputStream;
  readonly start: number;
  readonly end: number;
}

/**
 * The spilled chunks with `seq > afterSeq` of `stream` (or both), in seq order: stdout's are
 * `spill.afterSeq + 1 …`, stderr's follow. Numbering is fixed by the sizes alone, so `?after=` resumes anywhere.
 */
export function spilledChunkRanges(
  spill: LogSpill,
  afterSeq: number,
  stream?: OutputStream,
): SpilledChunkRange[] {
  const ranges: SpilledChunkRange[] = [];
  let seq = spill.afterSeq;
  for (const name of ['stdout', 'stderr'] as const) {
    const size = spill[name];
    for (let start = 0; start < size; start += spill.chunkBytes) {
      seq += 1;
      if (seq > afterSeq && (stream === undefined || stream === name)) {
        ranges.push({ seq, stream: name, start, end: Math.min(size, start + spill.chunkBytes) });
      }
    }
  }
  return ranges;
}
