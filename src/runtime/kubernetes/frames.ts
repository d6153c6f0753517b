import type { OutputStream } from '../../core/index.js';

/** The end of the program as the runner saw it (see runner/src/main.rs). */
export interface RunnerExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /**
   * CPU time (user + system) and peak memory as the runner measured them (its container's cgroup, else
   * rusage: see runner/src/main.rs); null when it could not, absent from a runner too old to report them.
   */
  readonly cpuTimeMs?: number | null;
  readonly peakMemoryBytes?: number | null;
}

/** A frame's number field: `-` (or nothing) is null. */
function numberOrNull(text: string): number | null {
  const n = Number(text);
  return text === '-' || text === '' || !Number.isFinite(n) ? null : n;
}

/** A frame of a staged run (runner/src/compile.rs): compiler output, compile end, test start, test end. */
export interface StageFrame {
  readonly tag: 'c' | 'k' | 't' | 'r';
  readonly body: string;
}

export interface DecodedOutput {
  readonly stream: OutputStream;
  readonly data: Buffer;
}

/**
 * Turns a pod log read with `timestamps=true` back into the program's stdout and stderr. Feed it every byte
 * of every read (follow or not, after any reconnect); it delivers each frame once, in order, by `seq`. Lines
 * that are not frames (the runner could not start, the runtime printed an error) become stderr so nothing the
 * pod said is lost; those are deduplicated on their full timestamp.
 */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private lastSeq = 0;
  private lastRawTimestamp = '';
  private exitRecord: RunnerExit | null = null;
  private gap = false;
  /** Timestamp of the last line seen, to resume a follow with `sinceTime`. */
  lastTimestamp: string | null = null;

  constructor(
    private readonly deliver: (output: DecodedOutput) => void,
    private readonly stage?: (frame: StageFrame) => void,
    /** The runner's `/artifacts` frames (`a`, `d`, `A`; artifact-frames.ts); `close` at any other frame. */
    private readonly artifacts?: {
      frame(tag: 'a' | 'd' | 'A', body: string): void;
      close(): void;
    },
  ) {}

  get exit(): RunnerExit | null {
    return this.exitRecord;
  }

  /** True when a frame was missing (log rotated or lost): the output is known to be incomplete. */
  get incomplete(): boolean {
    return this.gap;
  }

  /** Starts a new read: a partial line left by a broken connection is dropped, the next read repeats it. */
  resetConnection(): void {
    this.pending = Buffer.alloc(0);
  }

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let newline = this.pending.indexOf(0x0a);
    while (newline >= 0) {
      this.line(this.pending.subarray(0, newline).toString('utf8'));
      this.pending = this.pending.subarray(newline + 1);
      newline = this.pending.indexOf(0x0a);
    }
  }

  private line(raw: string): void {
    const space = raw.indexOf(' ');
    const timestamp = space > 0 ? raw.slice(0, space) : '';
    if (!/^\d{4}-\d\d-\d\dT/.test(timestamp)) return;
    this.lastTimestamp = timestamp;
    const content = raw.slice(space + 1);
    const match = /^([oexcktradA]) (\d+) (.*)$/.exec(content);
    if (!match) {
      if (timestamp <= this.lastRawTimestamp) return;
      this.lastRawTimestamp = timestamp;
      this.deliver({ stream: 'stderr', data: Buffer.from(`${content}\n`, 'utf8') });
      return;
    }
    const [, tag, seqText, rest = ''] = match;
    const seq = Number(seqText);
    if (seq <= this.lastSeq) return;
    if (seq !== this.lastSeq + 1) this.gap = true;
    this.lastSeq = seq;
    if (tag === 'a' || tag === 'd' || tag === 'A') {
      this.artifacts?.frame(tag, rest);
      return;
    }
    this.artifacts?.close();
    if (tag === 'x') {
      const [code = '-', signal = '-', timedOut = '0', cpuMs, peakBytes] = rest.split(' ');
      this.exitRecord = {
        exitCode: code === '-' ? null : Number(code),
        signal: signal === '-' ? null : signal,
        timedOut: timedOut === '1',
        ...(cpuMs === undefined ? {} : { cpuTimeMs: numberOrNull(cpuMs) }),
        ...(peakBytes === undefined ? {} : { peakMemoryBytes: numberOrNull(peakBytes) }),
      };
      return;
    }
    if (tag === 'c' || tag === 'k' || tag === 't' || tag === 'r') {
      this.stage?.({ tag, body: rest });
      return;
    }
    this.deliver({ stream: tag === 'o' ? 'stdout' : 'stderr', data: Buffer.from(rest, 'base64') });
  }
}
