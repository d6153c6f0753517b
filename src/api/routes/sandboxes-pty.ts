import fastifyWebsocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { CrucibleError } from '../../core/index.js';
import type { SandboxService } from '../../service/sandboxes.js';
import type { PtySession } from '../../service/sandboxes-pty.js';
import { SandboxError } from '../../service/sandboxes-types.js';
import { FORWARDED_HEADER, relayWebSocket } from './sandboxes-forward.js';
import { PtyQuery } from './sandboxes-schemas.js';

/** Text frames a viewer may send beside binary keystrokes. */
interface ControlFrame {
  resize?: { cols?: unknown; rows?: unknown };
  signal?: unknown;
  input?: unknown;
}

function control(session: PtySession, text: string): void {
  let frame: ControlFrame;
  try {
    frame = JSON.parse(text) as ControlFrame;
  } catch {
    return;
  }
  const cols = Number(frame.resize?.cols);
  const rows = Number(frame.resize?.rows);
  if (frame.resize && Number.isInteger(cols) && Number.isInteger(rows) && cols > 0 && rows > 0) {
    session.resize(Math.min(cols, 1000), Math.min(rows, 1000));
  }
  if (typeof frame.signal === 'string') session.signal(frame.signal);
  if (typeof frame.input === 'string') session.input(Buffer.from(frame.input, 'utf8'));
}

/** WebSocket close codes: 4000 + the HTTP status the call would have answered. */
function closeWith(socket: WebSocket, error: unknown): void {
  const status =
    error instanceof SandboxError
      ? error.status
      : error instanceof CrucibleError && error.code === 'not_found'
        ? 404
        : 500;
  const code = error instanceof SandboxError || error instanceof CrucibleError ? error.code : 'internal';
  socket.send(JSON.stringify({ error: { code, message: (error as Error).message } }));
  socket.close(4000 + status, code.slice(0, 100));
}

/**
 * `GET /v1/sandboxes/{id}/pty` (WebSocket): binary frames carry terminal bytes both ways; text frames
 * `{"resize":{"cols","rows"}}`, `{"signal":"SIGINT"}`. `?session=NAME` (default `main`) picks the shell:
 * every viewer of a session sees the same terminal, and reconnecting resumes it with its recent output.
 * When the shell exits the server sends `{"exit":{"code","signal"}}` and closes with 1000.
 */
export const sandboxPtyRoute: FastifyPluginAsync<{ sandboxes: SandboxService; replica?: string }> = async (
  app,
  { sandboxes, replica },
) => {
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });
  app.get('/v1/sandboxes/:id/pty', { websocket: true }, (socket, request) => {
    const { id } = request.params as { id: string };
    // Frames that arrive while the owner is looked up wait here (nothing listens to the socket yet).
    const early: { data: RawData; binary: boolean }[] = [];
    const hold = (data: RawData, binary: boolean) => early.push({ data, binary });
    socket.on('message', hold);
    const forwarded = request.headers[FORWARDED_HEADER] !== undefined;
    sandboxes
      .ownerUrl(id, forwarded)
      .then((target) => {
        socket.off('message', hold);
        if (target !== null && replica !== undefined) {
          relayWebSocket(socket, request, target, replica, early);
        } else {
          servePty(socket, request, sandboxes, id, early);
        }
      })
      .catch((error: unknown) => closeWith(socket, error));
  });
};

/** A viewer of a PTY session of a sandbox live here. */
function servePty(
  socket: WebSocket,
  request: FastifyRequest,
  sandboxes: SandboxService,
  id: string,
  early: { data: RawData; binary: boolean }[],
): void {
  const query = PtyQuery.safeParse(request.query);
  if (!query.success) {
    closeWith(
      socket,
      new CrucibleError('invalid_request', query.error.issues[0]?.message ?? 'invalid query', null),
    );
    return;
  }
  const queued: { data: RawData; binary: boolean }[] = [];
  let session: PtySession | null = null;
  let detach: (() => void) | null = null;
  const deliver = (data: RawData, binary: boolean) => {
    if (!session) return void queued.push({ data, binary });
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (binary) session.input(bytes);
    else control(session, bytes.toString('utf8'));
  };
  for (const { data, binary } of early) deliver(data, binary);
  socket.on('message', deliver);
  socket.on('close', () => detach?.());
  sandboxes
    .attachPty(
      request.caller,
      id,
      query.data.session ?? 'main',
      { cols: query.data.cols ?? 80, rows: query.data.rows ?? 24 },
      {
        output: (data) => socket.send(data, { binary: true }),
        closed: (exit) => {
          socket.send(
            JSON.stringify({ exit: { code: exit.code, signal: exit.signal, reason: exit.reason } }),
          );
          socket.close(1000, 'the shell ended');
        },
      },
    )
    .then((attached) => {
      if (socket.readyState !== socket.OPEN) return attached.detach();
      session = attached.session;
      detach = attached.detach;
      for (const { data, binary } of queued.splice(0)) deliver(data, binary);
    })
    .catch((error: unknown) => closeWith(socket, error));
}
