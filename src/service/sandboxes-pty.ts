import type { AgentClient, AgentPty } from '../runtime/sandbox/agent-client.js';

/** Terminal bytes kept per session, replayed to a viewer who attaches (a reconnect sees the current screen). */
const SCROLLBACK_BYTES = 64 * 1024;

export interface PtyViewer {
  output(data: Buffer): void;
  /** The shell exited (or the sandbox went away: `code` null). */
  closed(exit: { code: number | null; signal: string | null; reason: string }): void;
}

/**
 * One shell on a terminal inside a sandbox, shared by every viewer attached to it. It outlives its viewers:
 * a WebSocket that drops and reconnects finds the same shell, with the recent output replayed. Every
 * viewer's keys go to the same terminal; the last resize wins.
 */
export class PtySession {
  readonly #viewers = new Set<PtyViewer>();
  #scrollback: Buffer[] = [];
  #scrollbackBytes = 0;
  #pty: AgentPty | null = null;
  #closed = false;

  private constructor(
    readonly name: string,
    private readonly onEnd: () => void,
  ) {}

  static async open(
    name: string,
    client: AgentClient,
    size: { cols: number; rows: number },
    env: Record<string, string>,
    onEnd: () => void,
  ): Promise<PtySession> {
    const session = new PtySession(name, onEnd);
    session.#pty = await client.openPty(
      { argv: ['/bin/bash', '-i'], cols: size.cols, rows: size.rows, env },
      (data) => session.#output(data),
    );
    void session.#pty.exited.then((exit) =>
      session.close({ ...exit, reason: exit.code === null ? 'the sandbox went away' : 'the shell exited' }),
    );
    return session;
  }

  get viewers(): number {
    return this.#viewers.size;
  }

  #output(data: Buffer): void {
    this.#scrollback.push(data);
    this.#scrollbackBytes += data.length;
    while (this.#scrollbackBytes > SCROLLBACK_BYTES && this.#scrollback.length > 1) {
      this.#scrollbackBytes -= (this.#scrollback.shift() as Buffer).length;
    }
    for (const viewer of this.#viewers) viewer.output(data);
  }

  /** Adds a viewer, replaying the scroll-back first; the result detaches it (the shell keeps running). */
  attach(viewer: PtyViewer): () => void {
    const replay = Buffer.concat(this.#scrollback);
    if (replay.length > 0) viewer.output(replay);
    this.#viewers.add(viewer);
    return () => this.#viewers.delete(viewer);
  }

  input(data: Buffer): void {
    this.#pty?.input(data);
  }

  resize(cols: number, rows: number): void {
    this.#pty?.resize(cols, rows);
  }

  signal(name: string): void {
    this.#pty?.signal(name);
  }

  close(exit: { code: number | null; signal: string | null; reason: string }): void {
    if (this.#closed) return;
    this.#closed = true;
    if (exit.code === null) this.#pty?.signal('SIGHUP');
    for (const viewer of this.#viewers) viewer.closed(exit);
    this.#viewers.clear();
    this.onEnd();
  }
}
