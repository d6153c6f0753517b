import type { Transport } from './transport.js';

/** A sandbox as the API answers it (`GET /v1/sandboxes/{id}`). */
export interface SandboxInfo {
  readonly id: string;
  readonly status: 'starting' | 'ready' | 'hibernated' | 'terminated' | 'error';
  readonly language: string;
  readonly user: string | null;
  readonly project: string | null;
  readonly memoryMb: number;
  readonly workspaceMb: number;
  readonly idleTimeoutSeconds: number;
  readonly maxLifetimeSeconds: number | null;
  readonly labels: Record<string, string>;
  readonly envKeys: string[];
  readonly runtime: string;
  readonly snapshotBytes: number | null;
  readonly error: string | null;
  readonly createdAt: string;
  readonly lastActiveAt: string;
  readonly hibernatedAt: string | null;
  readonly terminatedAt: string | null;
}

export interface NewSandbox {
  readonly language?: string;
  readonly memoryMb?: number;
  readonly workspaceMb?: number;
  readonly idleTimeoutSeconds?: number;
  readonly maxLifetimeSeconds?: number;
  readonly labels?: Record<string, string>;
  readonly env?: Record<string, string>;
  readonly project?: string;
  readonly files?: { path: string; content: string; encoding?: 'utf8' | 'base64'; mode?: number }[];
}

export interface ExecOptions {
  readonly stdin?: string;
  readonly timeoutSeconds?: number;
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Default: a random UUID per call, reused by its retries, so a retried exec never runs twice. */
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal;
}

/** `?wait=true`'s answer: the whole output and the verdict. */
export interface ExecResult {
  readonly execId: string;
  readonly status: 'finished' | 'lost';
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly truncated: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number | null;
  readonly cpuMs: number | null;
  readonly peakMemoryBytes: number | null;
}

export interface ExecExitLine {
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
  readonly oomKilled: boolean;
  readonly truncated: boolean;
  readonly cpuMs: number | null;
  readonly peakMemoryBytes: number | null;
}

/** One line of a streamed exec: output (with its seq) or the last line. */
export type ExecLine =
  | { readonly seq: number; readonly stream: 'stdout' | 'stderr'; readonly data: Buffer }
  | { readonly exit: ExecExitLine | null; readonly status: 'finished' | 'lost'; readonly execId: string };

export interface FileEntry {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly size: number;
  readonly mode: number;
}

/** A terminal in the sandbox (`GET /v1/sandboxes/{id}/pty` over WebSocket). */
export interface PtyConnection {
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  signal(name: string): void;
  /** Every chunk of terminal output (the session's recent output first). */
  onData(listener: (data: Buffer) => void): void;
  /** The shell exited (`code`), or the connection closed (`code` null). */
  readonly closed: Promise<{ code: number | null; signal: string | null }>;
  close(): void;
}

function decode(line: Record<string, unknown>): ExecLine {
  if ('seq' in line) {
    const data =
      typeof line['base64'] === 'string'
        ? Buffer.from(line['base64'], 'base64')
        : Buffer.from(String(line['data'] ?? ''));
    return { seq: Number(line['seq']), stream: line['stream'] === 'stderr' ? 'stderr' : 'stdout', data };
  }
  return line as unknown as ExecLine;
}

async function* ndjsonLines(body: AsyncIterable<Uint8Array>): AsyncGenerator<ExecLine> {
  let pending = '';
  for await (const chunk of body) {
    pending += Buffer.from(chunk).toString('utf8');
    let newline;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (text !== '') yield decode(JSON.parse(text) as Record<string, unknown>);
    }
  }
}

/**
 * One sandbox: exec, files, pty, hibernate. Get it from `crucible.sandboxes.create()` or `.get(id)`.
 *
 * @example
 * const sandbox = await crucible.sandboxes.create({ env: { MODE: 'test' } });
 * await sandbox.files.write('main.py', 'print(6 * 7)\n');
 * const run = await sandbox.exec(['python3', 'main.py']);   // run.stdout === '42\n'
 * await sandbox.hibernate();                                   // the next call resumes it
 */
export class Sandbox {
  constructor(
    readonly info: SandboxInfo,
    private readonly transport: Transport,
  ) {}

  get id(): string {
    return this.info.id;
  }

  #path(suffix = ''): string {
    return `/v1/sandboxes/${encodeURIComponent(this.info.id)}${suffix}`;
  }

  #execRequest(command: readonly string[] | string, options: ExecOptions, wait: boolean) {
    const { idempotencyKey, signal, ...body } = options;
    return {
      method: 'POST' as const,
      path: this.#path(`/exec${wait ? '?wait=true' : ''}`),
      body: { command, ...body },
      headers: { 'idempotency-key': idempotencyKey ?? crypto.randomUUID() },
      signal,
    };
  }

  /** Runs a command to its end (`?wait=true`); a shell string runs under `/bin/sh -c`. */
  exec(command: readonly string[] | string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.transport.json(this.#execRequest(command, options, true));
  }

  /**
   * Runs a command and yields its output as it comes, then the exit line. A dropped stream resumes from the
   * last seq received (`GET …/execs/{id}/logs?after=SEQ`): nothing is lost or repeated.
   */
  async *execStream(
    command: readonly string[] | string,
    options: ExecOptions = {},
  ): AsyncGenerator<ExecLine> {
    const answer = await this.transport.send(this.#execRequest(command, options, false));
    const execId = String(answer.headers['crucible-exec-id']);
    let seq = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const body =
          attempt === 0
            ? answer.body
            : (
                await this.transport.send({
                  method: 'GET',
                  path: this.#path(`/execs/${execId}/logs?after=${seq}`),
                  signal: options.signal,
                })
              ).body;
        for await (const line of ndjsonLines(body)) {
          if ('seq' in line) seq = line.seq;
          yield line;
          if ('exit' in line) return;
        }
        return;
      } catch (error) {
        if (options.signal?.aborted || attempt >= 5) throw error;
      }
    }
  }

  /** An exec's stored output after `after` (it may have ended long ago, its sandbox too). */
  async *execLogs(execId: string, after = 0): AsyncGenerator<ExecLine> {
    const answer = await this.transport.send({
      method: 'GET',
      path: this.#path(`/execs/${execId}/logs?after=${after}`),
    });
    yield* ndjsonLines(answer.body);
  }

  readonly files = {
    read: async (path: string): Promise<Buffer> => {
      const answer = await this.transport.send({
        method: 'GET',
        path: this.#path(`/files?path=${encodeURIComponent(path)}`),
      });
      const chunks: Buffer[] = [];
      for await (const chunk of answer.body) chunks.push(Buffer.from(chunk));
      return Buffer.concat(chunks);
    },
    write: async (path: string, content: string | Buffer): Promise<void> => {
      const body = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
      const answer = await this.transport.send({
        method: 'PUT',
        path: this.#path(`/files?path=${encodeURIComponent(path)}`),
        body,
      });
      await answer.text();
    },
    delete: async (path: string, options: { recursive?: boolean } = {}): Promise<void> => {
      const recursive = options.recursive ? '&recursive=true' : '';
      const answer = await this.transport.send({
        method: 'DELETE',
        path: this.#path(`/files?path=${encodeURIComponent(path)}${recursive}`),
      });
      await answer.text();
    },
    list: async (path = ''): Promise<FileEntry[]> =>
      (
        await this.transport.json<{ entries: FileEntry[] }>({
          method: 'GET',
          path: this.#path(`/files?path=${encodeURIComponent(path)}&list=true`),
        })
      ).entries,
    glob: (pattern: string, path = ''): Promise<{ paths: string[]; truncated: boolean }> =>
      this.transport.json({
        method: 'GET',
        path: this.#path(`/files?path=${encodeURIComponent(path)}&glob=${encodeURIComponent(pattern)}`),
      }),
    grep: (
      text: string,
      options: { path?: string; glob?: string } = {},
    ): Promise<{ matches: { path: string; line: number; text: string }[]; truncated: boolean }> => {
      const glob = options.glob ? `&glob=${encodeURIComponent(options.glob)}` : '';
      return this.transport.json({
        method: 'GET',
        path: this.#path(
          `/files?path=${encodeURIComponent(options.path ?? '')}&grep=${encodeURIComponent(text)}${glob}`,
        ),
      });
    },
  };

  /** Opens (or joins) the PTY session `session` (default `main`): several viewers share one shell. */
  async pty(options: { cols?: number; rows?: number; session?: string } = {}): Promise<PtyConnection> {
    const { default: WebSocket } = await import('ws');
    const query = new URLSearchParams();
    if (options.cols) query.set('cols', String(options.cols));
    if (options.rows) query.set('rows', String(options.rows));
    if (options.session) query.set('session', options.session);
    const url = `${this.transport.baseUrl.replace(/^http/, 'ws')}${this.#path('/pty')}?${query.toString()}`;
    const socket = new WebSocket(url, { headers: { ...this.transport.headers } });
    const listeners: ((data: Buffer) => void)[] = [];
    let exit: { code: number | null; signal: string | null } = { code: null, signal: null };
    const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      socket.once('close', () => resolve(exit)),
    );
    socket.on('message', (data: Buffer, binary: boolean) => {
      if (binary) {
        for (const listener of listeners) listener(data);
        return;
      }
      const frame = JSON.parse(data.toString('utf8')) as { exit?: typeof exit; error?: { message: string } };
      if (frame.exit) exit = { code: frame.exit.code, signal: frame.exit.signal };
    });
    await new Promise<void>((resolve, reject) => socket.once('open', () => resolve()).once('error', reject));
    return {
      write: (data) => socket.send(Buffer.isBuffer(data) ? data : Buffer.from(data), { binary: true }),
      resize: (cols, rows) => socket.send(JSON.stringify({ resize: { cols, rows } })),
      signal: (name) => socket.send(JSON.stringify({ signal: name })),
      onData: (listener) => void listeners.push(listener),
      closed,
      close: () => socket.close(),
    };
  }

  async #lifecycle(method: 'POST' | 'DELETE', suffix: string): Promise<SandboxInfo> {
    const info = await this.transport.json<SandboxInfo>({ method, path: this.#path(suffix) });
    Object.assign(this, { info });
    return info;
  }

  /** Snapshots the workspace to object storage and frees the sandbox; any later call resumes it. */
  hibernate(): Promise<SandboxInfo> {
    return this.#lifecycle('POST', '/hibernate');
  }

  resume(): Promise<SandboxInfo> {
    return this.#lifecycle('POST', '/resume');
  }

  /** Terminates it and deletes its snapshot; its exec logs stay readable. */
  terminate(): Promise<SandboxInfo> {
    return this.#lifecycle('DELETE', '');
  }

  async refresh(): Promise<SandboxInfo> {
    const info = await this.transport.json<SandboxInfo>({ method: 'GET', path: this.#path() });
    Object.assign(this, { info });
    return info;
  }
}

/** `crucible.sandboxes`: create, get and list sandboxes. */
export class Sandboxes {
  constructor(private readonly transport: Transport) {}

  /** `POST /v1/sandboxes`, with an Idempotency-Key so a retried create never makes two. */
  async create(request: NewSandbox = {}, options: { idempotencyKey?: string } = {}): Promise<Sandbox> {
    const info = await this.transport.json<SandboxInfo>({
      method: 'POST',
      path: '/v1/sandboxes',
      body: request,
      headers: { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() },
    });
    return new Sandbox(info, this.transport);
  }

  async get(id: string): Promise<Sandbox> {
    const info = await this.transport.json<SandboxInfo>({
      method: 'GET',
      path: `/v1/sandboxes/${encodeURIComponent(id)}`,
    });
    return new Sandbox(info, this.transport);
  }

  async list(status?: SandboxInfo['status']): Promise<SandboxInfo[]> {
    const query = status ? `?status=${status}` : '';
    return (
      await this.transport.json<{ items: SandboxInfo[] }>({ method: 'GET', path: `/v1/sandboxes${query}` })
    ).items;
  }
}
