import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ExecExit, ExecProcess } from './exec-process.js';
import { StoreError } from './store.js';

/**
 * The remote-command subprotocols the fake serves, as the API server does since 1.30 (v5, with the CLOSE
 * signal) and as kubelets served before it (v4: the same channels, no CLOSE). Picked in the client's order.
 */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** Channel numbers of the channel.k8s.io protocols (k8s.io/apimachinery/pkg/util/remotecommand). */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

export interface ExecOptions {
  readonly container: string;
  readonly argv: readonly string[];
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

/** Starts the process once the connection is upgraded, so none of its output precedes the streams. */
export type StartExec = (onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void) => ExecProcess;

/** The kubelet side: finds the container, then starts processes in it. */
export interface ExecTarget {
  /** Throws StoreError (404 no pod, 400 container invalid or not running) before the connection upgrades. */
  prepareExec(namespace: string, pod: string, options: ExecOptions): Promise<StartExec>;
}

const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;

function flag(q: URLSearchParams, name: string): boolean {
  const value = q.get(name);
  return value === 'true' || value === '1';
}

/** An HTTP answer on a socket that asked to upgrade: the Status body an API server sends when it refuses. */
function refuse(socket: Duplex, code: number, reason: string, message: string): void {
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
  socket.end(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

/** The Status the kubelet writes on the error channel when the command ends (pkg/kubelet/…/exec.go). */
export function exitStatus(exit: ExecExit, argv: readonly string[]): Record<string, unknown> {
  if (exit.exitCode === 0) return { metadata: {}, status: 'Success' };
  if (exit.exitCode === null) {
    return {
      metadata: {},
      status: 'Failure',
      message: `Internal error occurred: error executing command in container: ${exit.error ?? 'unknown'}`,
      reason: 'InternalError',
      details: { causes: [{ message: exit.error ?? 'unknown' }] },
      code: 500,
    };
  }
  return {
    metadata: {},
    status: 'Failure',
    message:
      'command terminated with non-zero exit code: error executing command ' +
      `[${argv.join(' ')}], exit code ${exit.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exit.exitCode) }] },
  };
}

/**
 * The resize channel is one stream of JSON objects, as Go's json.Decoder reads it: an object may span
 * messages or several share one, and field names match case-insensitively (client-go sends `Width`/`Height`,
 * @kubernetes/client-node `width`/`height`).
 */
export class ResizeDecoder {
  private pending = '';

  push(data: Buffer): { width: number; height: number }[] {
    this.pending += data.toString('utf8');
    const sizes: { width: number; height: number }[] = [];
    for (;;) {
      const end = this.pending.indexOf('}');
      if (end < 0) return sizes;
      const text = this.pending.slice(this.pending.indexOf('{'), end + 1);
      this.pending = this.pending.slice(end + 1);
      const fields = Object.fromEntries(
        Object.entries(JSON.parse(text) as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]),
      );
      sizes.push({ width: Number(fields['width'] ?? 0), height: Number(fields['height'] ?? 0) });
    }
  }
}

/**
 * `pods/{name}/exec` over WebSocket, the way the API server speaks it: each binary message starts with its
 * channel byte (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize); right after the upgrade an empty
 * message on the lowest writable channel says the streams are ready; stdin EOF is the v5 CLOSE signal
 * `[255, 0]`; resize messages carry `{"Width":W,"Height":H}`; the end is a metav1.Status on channel 3 and a
 * normal close. Errors before the upgrade are plain HTTP answers with a Status body.
 */
export class ExecEndpoint {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  private readonly open = new Set<WebSocket>();
  /** Exec sessions served since start (a test can see that a backend opened one per connect). */
  served = 0;

  constructor(private readonly target: ExecTarget | null) {}

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const match = EXEC_PATH.exec(url.pathname);
    if (!match || !this.target) return refuse(socket, 404, 'NotFound', `no route for ${url.pathname}`);
    const q = url.searchParams;
    const options: ExecOptions = {
      container: q.get('container') ?? '',
      argv: q.getAll('command'),
      stdin: flag(q, 'stdin'),
      stdout: flag(q, 'stdout'),
      // With a terminal there is no separate stderr (the kubelet bypasses it, as the runtime merges them).
      stderr: flag(q, 'stderr') && !flag(q, 'tty'),
      tty: flag(q, 'tty'),
    };
    if (options.argv.length === 0) {
      return refuse(socket, 400, 'BadRequest', 'you must specify at least 1 command');
    }
    if (!options.stdin && !options.stdout && !flag(q, 'stderr')) {
      return refuse(socket, 400, 'BadRequest', 'you must specify at least 1 of stdin, stdout, stderr');
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!EXEC_PROTOCOLS.some((p) => offered.includes(p))) {
      return refuse(
        socket,
        400,
        'BadRequest',
        `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${EXEC_PROTOCOLS.join(' ')}]`,
      );
    }
    let start: StartExec;
    try {
      start = await this.target.prepareExec(
        decodeURIComponent(match[1]!),
        decodeURIComponent(match[2]!),
        options,
      );
    } catch (error) {
      if (error instanceof StoreError) return refuse(socket, error.code, error.reason, error.message);
      throw error;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.session(ws, options, start));
  }

  private session(ws: WebSocket, options: ExecOptions, start: StartExec): void {
    this.served += 1;
    this.open.add(ws);
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    const send = (channel: number, data: Buffer): void => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
    };
    send(options.stdout ? CHANNEL.stdout : options.stderr ? CHANNEL.stderr : CHANNEL.error, Buffer.alloc(0));
    const proc = start((stream, data) => {
      if (stream === 'stdout' && options.stdout) send(CHANNEL.stdout, data);
      if (stream === 'stderr' && options.stderr) send(CHANNEL.stderr, data);
    });
    if (!options.stdin) proc.endInput();
    let finished = false;
    const resizes = new ResizeDecoder();
    ws.on('message', (raw: RawData) => {
      const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
      if (data.length === 0) return;
      const channel = data[0]!;
      const body = data.subarray(1);
      // v4 has no CLOSE signal: a frame for channel 255 is one for a channel that does not exist, ignored.
      if (channel === CHANNEL.close && v5) {
        if (body[0] === CHANNEL.stdin) proc.endInput();
      } else if (channel === CHANNEL.stdin && options.stdin) {
        proc.write(body);
      } else if (channel === CHANNEL.resize && options.tty) {
        for (const size of resizes.push(body)) proc.resize(size.width, size.height);
      }
    });
    ws.on('close', () => {
      this.open.delete(ws);
      if (!finished) proc.hangUp();
    });
    void proc.exited.then((exit) => {
      finished = true;
      send(CHANNEL.error, Buffer.from(JSON.stringify(exitStatus(exit, options.argv))));
      if (ws.readyState === ws.OPEN) ws.close(1000);
    });
  }

  /** Drops every exec connection without a status (a node or API server going away). */
  dropAll(): void {
    for (const ws of this.open) ws.terminate();
  }
}
