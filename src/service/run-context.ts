import type { LogChunk, OutputStream } from '../core/index.js';
import type { OutputFlags } from '../core/index.js';
import type { LogSpillFiles } from './log-spill.js';

/**
 * Per-run bookkeeping between a runtime's observer calls and the store: the output cap, log sequence numbers
 * and a serial task chain, so a run's events are persisted in the order the runtime reported them.
 */
export class RunContext {
  readonly evaluationId: string;
  readonly #maxOutputBytes: number;
  readonly #kept: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  readonly #truncated: Record<OutputStream, boolean> = { stdout: false, stderr: false };
  #logSeq: number;
  #pending: LogChunk[] = [];
  #chain: Promise<void> = Promise.resolve();
  /** Where output past the inline cap goes (absent: it is dropped). */
  readonly spill: LogSpillFiles | undefined;
  /** A cancel was decided while this run existed; whoever holds the launch must kill it. */
  cancelRequested = false;
  /** `runtime.start` has not returned yet: a cancel now has nothing to kill, the launcher cancels after it. */
  launching: boolean;

  /** `kept`: bytes per stream already stored (a run re-adopted after a restart counts them against the cap). */
  constructor(
    evaluationId: string,
    maxOutputBytes: number,
    lastLogSeq: number,
    kept: Readonly<Record<OutputStream, number>>,
    launching: boolean,
    spill?: LogSpillFiles,
  ) {
    this.spill = spill;
    this.evaluationId = evaluationId;
    this.#maxOutputBytes = maxOutputBytes;
    this.#logSeq = lastLogSeq;
    this.#kept.stdout = kept.stdout;
    this.#kept.stderr = kept.stderr;
    this.launching = launching;
  }

  get outputFlags(): OutputFlags {
    return { stdoutTruncated: this.#truncated.stdout, stderrTruncated: this.#truncated.stderr };
  }

  /** The last log seq given out: spilled output is numbered after it. */
  get lastLogSeq(): number {
    return this.#logSeq;
  }

  /** The spilled output could not be stored: what it held is lost, as if it had been dropped. */
  spillLost(): void {
    if (this.spill?.bytes.stdout) this.#truncated.stdout = true;
    if (this.spill?.bytes.stderr) this.#truncated.stderr = true;
  }

  /**
   * Keeps the prefix of each stream up to the cap, spills what follows (when the run has somewhere to), and
   * flags the rest as truncated. Returns true when a chunk was queued and a flush is needed.
   */
  acceptOutput(stream: OutputStream, data: Buffer, at: Date): boolean {
    const room = this.#maxOutputBytes - this.#kept[stream];
    const kept = data.length > room ? data.subarray(0, Math.max(0, room)) : data;
    if (kept.length < data.length) {
      const rest = data.subarray(kept.length);
      if ((this.spill?.write(stream, rest) ?? 0) < rest.length) this.#truncated[stream] = true;
    }
    if (kept.length === 0) return false;
    this.#kept[stream] += kept.length;
    this.#pending.push({
      evaluationId: this.evaluationId,
      seq: ++this.#logSeq,
      stream,
      // Copy: a runtime may reuse its read buffer after the call returns.
      data: Buffer.from(kept),
      at: at.toISOString(),
    });
    return this.#pending.length === 1;
  }

  /** The chunks not yet stored, oldest first. They stay pending until `stored` says they were written. */
  pending(): readonly LogChunk[] {
    return this.#pending.slice();
  }

  /** Drops the first `count` pending chunks once the store has them. */
  stored(count: number): void {
    this.#pending = this.#pending.slice(count);
  }

  /**
   * Runs tasks one after another. A task that fails is reported and does not stop later ones; the promise
   * returned for it rejects, so a caller waiting on "persisted" is never told it was.
   */
  enqueue(task: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
    const result = this.#chain.then(task);
    this.#chain = result.catch(onError);
    return result;
  }

  idle(): Promise<void> {
    return this.#chain;
  }
}
