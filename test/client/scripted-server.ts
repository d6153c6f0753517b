import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Answers the `index`-th request (0-based, counted over the server's life). */
export type Script = (
  request: RecordedRequest,
  response: http.ServerResponse,
  index: number,
) => void | Promise<void>;

/**
 * A real HTTP server on loopback whose answers a test scripts request by request: the SDK under test speaks
 * to it over real sockets, so retries, resets and half-sent streams are the real thing.
 */
export class ScriptedServer {
  readonly requests: RecordedRequest[] = [];
  readonly #server: http.Server;
  #script: Script;

  private constructor(script: Script) {
    this.#script = script;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const recorded = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(recorded);
        void Promise.resolve(this.#script(recorded, res, this.requests.length - 1)).catch(
          (error: unknown) => {
            res.destroy(error as Error);
          },
        );
      });
    });
  }

  /** Starts on `port` (0: any free one). Binding an IP address is synchronous: connections queue at once. */
  static start(script: Script, port = 0): ScriptedServer {
    const server = new ScriptedServer(script);
    server.#server.listen(port, '127.0.0.1');
    return server;
  }

  async ready(): Promise<string> {
    if (!this.#server.listening) await once(this.#server, 'listening');
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Sends a JSON answer. */
export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The API's error body. */
export function apiError(code: string, message: string, field: string | null = null) {
  return { error: { code, message, field } };
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = http.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An evaluation as the server answers it, with the fields a test cares about overridden. */
export function evaluation(overrides: Record<string, unknown> = {}) {
  return {
    id: 'ev_1',
    status: 'queued',
    language: 'python',
    priority: 'normal',
    labels: {},
    runtime: 'local',
    limits: { timeoutSeconds: 30, memoryMb: 256, maxProcesses: 64, maxOutputBytes: 1048576, tmpSizeMb: 64 },
    createdAt: '2026-01-01T00:00:00.000Z',
    result: null,
    timings: {
      submittedAt: '2026-01-01T00:00:00.000Z',
      dispatchedAt: null,
      startedAt: null,
      finishedAt: null,
      storedAt: null,
    },
    ...overrides,
  };
}
