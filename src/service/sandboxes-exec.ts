import type { ExecExit, ExecLogChunk, SandboxStore } from '../store/store.js';
import type { AgentExecExit } from '../runtime/sandbox/agent-client.js';
import type { ExecEvent } from './sandboxes-types.js';

export type ExecEnd = { readonly exit: ExecExit | null; readonly status: 'finished' | 'lost' };

/** The agent's exit frame as the stored verdict; the backend's OOM count corrects the agent's own view. */
export function execExitOf(exit: AgentExecExit, oomKilledByHost: boolean): ExecExit {
  return {
    exitCode: exit.code,
    signal: exit.signal,
    timedOut: exit.timedOut,
    // A shell in front of the killed program reports it as 137 (128 + SIGKILL) rather than the signal.
    oomKilled:
      exit.oomKilled ||
      (oomKilledByHost && !exit.timedOut && (exit.signal === 'SIGKILL' || exit.code === 137)),
    truncated: exit.truncated,
    durationMs: Math.round(exit.wallMs * 1000) / 1000,
    cpuMs: exit.cpuMs,
    peakMemoryBytes: exit.peakMemoryBytes,
  };
}

/**
 * One running exec's output: every chunk is numbered, kept in memory while the exec runs (its streams are
 * capped by the agent) and written to the store in batches, so a client that disconnects — or never reads —
 * changes nothing about what is captured, and any reader can follow from a seq. The exit is stored only
 * after every chunk is, so a reader who sees the exit has seen everything.
 */
export class ExecCapture {
  readonly #chunks: ExecLogChunk[] = [];
  readonly #pending: ExecLogChunk[] = [];
  readonly #wake = new Set<() => void>();
  #flush: Promise<void> = Promise.resolve();
  #flushQueued = false;
  /** Stored: the last chunks and the exit are in the store. */
  #end: ExecEnd | null = null;
  /** Known: the exit arrived and every chunk is in memory (followers are answered from here). */
  #exited: ExecEnd | null = null;
  #resolveDone!: (end: ExecEnd) => void;
  readonly done: Promise<ExecEnd>;
  /** A write failure while storing output; reported once the exec ends. */
  #storeError: unknown = null;

  constructor(
    readonly id: string,
    readonly sandboxId: string,
    private readonly store: SandboxStore,
  ) {
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get ended(): boolean {
    return this.#end !== null;
  }

  push(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (this.#exited) return;
    const chunk: ExecLogChunk = { execId: this.id, seq: this.#chunks.length + 1, stream, data };
    this.#chunks.push(chunk);
    this.#pending.push(chunk);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // One write per turn of the event loop however many chunks arrived in it.
      setImmediate(() => {
        this.#flushQueued = false;
        this.#flush = this.#flush.then(() => this.#write());
      });
    }
    this.#notify();
  }

  async #write(): Promise<void> {
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    await this.store.appendExecLogs(batch).catch((error: unknown) => {
      this.#storeError ??= error;
    });
  }

  /**
   * Ends the capture: followers get the exit at once (the output is all in memory, and a reader of the
   * store sees it `running` until the next writes land), then the rest of the output and the exit are
   * stored and `done` resolves. Answering before those writes takes a store round trip off every exec.
   */
  async finish(end: ExecEnd, finishedAt: string): Promise<void> {
    if (this.#exited) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.#exited = end;
    this.#notify();
    await this.#flush;
    await this.#write();
    // Output the store refused: the record says so rather than pretending the replay is whole.
    if (this.#storeError !== null) end = { ...end, status: 'lost' };
    await this.store.finishExec(this.id, end.status, end.exit, finishedAt);
    this.#end = end;
    this.#notify();
    this.#resolveDone(end);
  }

  #notify(): void {
    for (const wake of [...this.#wake]) wake();
  }

  /** The output as one buffer per stream (for `?wait=true`). */
  output(stream: 'stdout' | 'stderr'): Buffer {
    return Buffer.concat(this.#chunks.filter((c) => c.stream === stream).map((c) => c.data));
  }

  /** Every chunk with seq > `after`, live, then the end. */
  async *follow(after: number, signal?: AbortSignal): AsyncGenerator<ExecEvent> {
    let next = Math.max(0, after);
    for (;;) {
      while (next < this.#chunks.length) {
        const chunk = this.#chunks[next++] as ExecLogChunk;
        yield { seq: chunk.seq, stream: chunk.stream, data: chunk.data };
      }
      const end = this.#end ?? this.#exited;
      if (end) {
        yield end;
        return;
      }
      if (signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#wake.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.#wake.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }
}
