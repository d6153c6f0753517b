import type { Duplex } from 'node:stream';
import { FrameDecoder, encodeFrame, type AgentHeader } from './frames.js';

/** An `error` frame from the agent (docs/sandboxes.md): `code` is the API's error code. */
export class AgentError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The agent's usage and verdict of one exec (the `exit` frame). */
export interface AgentExecExit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly truncated: boolean;
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakMemoryBytes: number;
}

export interface AgentExecRequest {
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  /** Fed to the program and closed; absent: stdin is /dev/null. */
  readonly stdin?: Buffer;
}

export interface AgentEntry {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly size: number;
  readonly mode: number;
}

export interface AgentGrepMatch {
  readonly path: string;
  readonly line: number;
  readonly text: string;
}

export interface AgentPty {
  readonly id: number;
  readonly pid: number;
  input(data: Buffer): void;
  resize(cols: number, rows: number): void;
  signal(name: string): void;
  /** Resolves when the shell exits (or the connection ends: code null). */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

type FrameListener = (header: AgentHeader, body: Buffer) => void;

/** Frame bodies sent at once when streaming a restore (well under the agent's 16 MiB frame limit). */
const CHUNK_BYTES = 256 * 1024;

/**
 * The host side of the agent protocol over any duplex byte stream (local pipes, a Kubernetes exec
 * WebSocket). Requests are multiplexed by id; each resolves on its final frame. When the stream ends every
 * open request fails with `sandbox_unavailable`.
 */
export class AgentClient {
  readonly ready: Promise<{ version: number; pid: number }>;
  /** Resolves when the connection ends, with why. */
  readonly closed: Promise<Error>;
  readonly #stream: Duplex;
  readonly #listeners = new Map<number, FrameListener>();
  #nextId = 1;
  #ended: Error | null = null;

  /**
   * `resumed`: the agent runs on from a checkpoint (gVisor restore) and sends no `ready`; request ids go on
   * from where the previous connection stopped, so none collides with a task the agent still holds.
   */
  constructor(stream: Duplex, resumed?: { readonly nextRequestId: number }) {
    this.#stream = stream;
    if (resumed) this.#nextId = resumed.nextRequestId;
    const decoder = new FrameDecoder();
    let resolveReady!: (info: { version: number; pid: number }) => void;
    let rejectReady!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    if (resumed) resolveReady({ version: 1, pid: 1 });
    let resolveClosed!: (error: Error) => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    const end = (error: Error) => {
      if (this.#ended) return;
      this.#ended = error;
      rejectReady(error);
      for (const listener of [...this.#listeners.values()]) {
        listener(
          { id: 0, type: 'error', code: 'sandbox_unavailable', message: error.message },
          Buffer.alloc(0),
        );
      }
      this.#listeners.clear();
      resolveClosed(error);
    };
    stream.on('data', (chunk: Buffer) => {
      try {
        for (const [header, body] of decoder.push(chunk)) {
          if (header.type === 'ready') {
            resolveReady({ version: Number(header.version), pid: Number(header.pid) });
            continue;
          }
          this.#listeners.get(Number(header.id))?.(header, body);
        }
      } catch (error) {
        end(error as Error);
        stream.destroy();
      }
    });
    stream.on('error', (error: Error) => end(error));
    stream.on('close', () => end(new Error('the sandbox agent connection closed')));
    stream.on('end', () => end(new Error('the sandbox agent connection ended')));
  }

  /** The id the next request gets (saved with a checkpoint, see the constructor). */
  get nextRequestId(): number {
    return this.#nextId;
  }

  get alive(): boolean {
    return this.#ended === null;
  }

  #send(header: Record<string, unknown>, body?: Buffer): boolean {
    if (this.#ended) return false;
    return this.#stream.write(encodeFrame(header, body));
  }

  /** Opens a request: `listener` hears its frames until it returns true (the final one). */
  #open(
    op: Record<string, unknown>,
    body: Buffer | undefined,
    listener: (h: AgentHeader, b: Buffer) => boolean,
  ): number {
    const id = this.#nextId++;
    if (this.#ended) {
      listener(
        { id, type: 'error', code: 'sandbox_unavailable', message: this.#ended.message },
        Buffer.alloc(0),
      );
      return id;
    }
    this.#listeners.set(id, (h, b) => {
      if (listener(h, b)) this.#listeners.delete(id);
    });
    this.#send({ id, ...op }, body);
    return id;
  }

  /** A request answered by one final frame (`ok` or `error`). */
  call(op: Record<string, unknown>, body?: Buffer): Promise<{ header: AgentHeader; body: Buffer }> {
    return new Promise((resolve, reject) => {
      this.#open(op, body, (header, b) => {
        if (header.type === 'error') reject(new AgentError(String(header.code), String(header.message)));
        else resolve({ header, body: b });
        return true;
      });
    });
  }

  init(env: Readonly<Record<string, string>>, maxFileBytes: number): Promise<unknown> {
    return this.call({ op: 'init', env, maxFileBytes });
  }

  /**
   * Runs a program; `onOutput` hears every chunk in order; resolves with the exit frame. `onStart` receives
   * the exec's id (for `signal`) as soon as the request is sent.
   */
  exec(
    request: AgentExecRequest,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
    onStart?: (id: number) => void,
  ): Promise<AgentExecExit> {
    return new Promise((resolve, reject) => {
      const { stdin, ...rest } = request;
      const id = this.#open(
        { op: 'exec', ...rest, stdin: stdin !== undefined },
        undefined,
        (header, body) => {
          if (header.type === 'output') {
            onOutput(header.stream === 'stderr' ? 'stderr' : 'stdout', body);
            return false;
          }
          if (header.type === 'exit') resolve(header as unknown as AgentExecExit);
          else reject(new AgentError(String(header.code), String(header.message)));
          return true;
        },
      );
      if (stdin !== undefined) {
        for (let at = 0; at < stdin.length; at += CHUNK_BYTES) {
          this.#send({ id, op: 'stdin' }, stdin.subarray(at, at + CHUNK_BYTES));
        }
        this.#send({ id, op: 'stdin', eof: true });
      }
      onStart?.(id);
    });
  }

  signal(target: number, signal: string): void {
    this.#open({ op: 'signal', target, signal }, undefined, () => true);
  }

  async readFile(path: string): Promise<Buffer> {
    return (await this.call({ op: 'read', path })).body;
  }

  async writeFile(path: string, content: Buffer, mode?: number): Promise<void> {
    await this.call({ op: 'write', path, ...(mode === undefined ? {} : { mode }) }, content);
  }

  async deletePath(path: string, recursive = false): Promise<void> {
    await this.call({ op: 'delete', path, recursive });
  }

  /** Processes running in the sandbox besides the agent itself. */
  async processes(): Promise<number> {
    return Number((await this.call({ op: 'processes' })).header.count);
  }

  async list(path: string): Promise<AgentEntry[]> {
    return (await this.call({ op: 'list', path })).header.entries as AgentEntry[];
  }

  async glob(path: string, pattern: string, limit = 1000): Promise<{ paths: string[]; truncated: boolean }> {
    const { header } = await this.call({ op: 'glob', path, pattern, limit });
    return { paths: header.paths as string[], truncated: header.truncated === true };
  }

  async grep(
    path: string,
    pattern: string,
    options: { glob?: string; limit?: number } = {},
  ): Promise<{ matches: AgentGrepMatch[]; truncated: boolean }> {
    const { header } = await this.call({ op: 'grep', path, pattern, ...options });
    return { matches: header.matches as AgentGrepMatch[], truncated: header.truncated === true };
  }

  /** The workspace as a tar, chunk by chunk; resolves with its size once the agent sent it all. */
  archive(onChunk: (chunk: Buffer) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#open({ op: 'archive' }, undefined, (header, body) => {
        if (header.type === 'chunk') {
          onChunk(body);
          return false;
        }
        if (header.type === 'ok') resolve(Number(header.bytes));
        else reject(new AgentError(String(header.code), String(header.message)));
        return true;
      });
    });
  }

  /** Replaces the workspace with a tar (docs/sandboxes.md "archive and restore"). */
  async restore(tar: AsyncIterable<Buffer> | Buffer): Promise<void> {
    let id = 0;
    const done = new Promise<void>((resolve, reject) => {
      id = this.#open({ op: 'restore' }, undefined, (header) => {
        if (header.type === 'ok') resolve();
        else reject(new AgentError(String(header.code), String(header.message)));
        return true;
      });
    });
    done.catch(() => undefined);
    const source = Buffer.isBuffer(tar) ? [tar] : tar;
    for await (const piece of source) {
      for (let at = 0; at < piece.length; at += CHUNK_BYTES) {
        if (!this.#send({ id, op: 'chunk' }, piece.subarray(at, at + CHUNK_BYTES)) && this.alive) {
          await new Promise((resolve) => this.#stream.once('drain', resolve));
        }
      }
    }
    this.#send({ id, op: 'chunk', eof: true });
    await done;
  }

  async openPty(
    options: {
      argv?: readonly string[];
      cols: number;
      rows: number;
      env?: Record<string, string>;
      cwd?: string;
    },
    onOutput: (data: Buffer) => void,
  ): Promise<AgentPty> {
    let resolveExit!: (exit: { code: number | null; signal: string | null }) => void;
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (resolveExit = r));
    const opened = new Promise<{ id: number; pid: number }>((resolve, reject) => {
      let started = false;
      const id = this.#open({ op: 'pty_open', ...options }, undefined, (header, body) => {
        if (!started) {
          started = true;
          if (header.type === 'ok') {
            resolve({ id, pid: Number(header.pid) });
            return false;
          }
          reject(new AgentError(String(header.code), String(header.message)));
          return true;
        }
        if (header.type === 'pty_output') {
          onOutput(body);
          return false;
        }
        resolveExit({
          code: typeof header.code === 'number' ? header.code : null,
          signal: typeof header.signal === 'string' ? header.signal : null,
        });
        return true;
      });
    });
    const { id, pid } = await opened;
    return {
      id,
      pid,
      exited,
      input: (data) => void this.#send({ id, op: 'pty_input' }, data),
      resize: (cols, rows) => void this.#send({ id, op: 'pty_resize', cols, rows }),
      signal: (signal) => this.signal(id, signal),
    };
  }

  /** Asks the agent to stop everything and exit, then ends the stream. */
  shutdown(): void {
    this.#send({ op: 'shutdown' });
    this.#stream.end();
  }
}
