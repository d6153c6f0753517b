import type { Exec, V1Status } from '@kubernetes/client-node';
import { Duplex, PassThrough, Writable } from 'node:stream';

export interface ExecTarget {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
}

/**
 * Runs `command` in the pod through the pods/exec subresource (@kubernetes/client-node's Exec: a WebSocket
 * with `v5.channel.k8s.io`) and turns its stdin/stdout into one duplex byte stream: what is written goes to
 * the command's stdin (channel 0), its stdout (channel 1) is what is read, its stderr (channel 2) goes to
 * `diagnostics`. Ending the writable side sends the v5 CLOSE signal for stdin; the readable side ends when the
 * server sends the exit status (channel 3) or the connection closes. Rejects when the server refuses the
 * upgrade (pod gone, container not running, exec forbidden by RBAC).
 */
export async function openExecStream(
  exec: Exec,
  target: ExecTarget,
  diagnostics: (text: string) => void,
): Promise<Duplex> {
  const stdin = new PassThrough();
  let status: V1Status | null = null;
  let socket: Awaited<ReturnType<Exec['exec']>> | null = null;
  const duplex: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      stdin.write(chunk);
      done();
    },
    final(done) {
      stdin.end();
      done();
    },
    destroy(error, done) {
      socket?.close();
      done(error);
    },
  });
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      duplex.push(chunk);
      done();
    },
    final(done) {
      duplex.push(null);
      done();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, done) {
      diagnostics(chunk.toString('utf8'));
      done();
    },
  });
  try {
    socket = await exec.exec(
      target.namespace,
      target.pod,
      target.container,
      [...target.command],
      stdout,
      stderr,
      stdin,
      false,
      (s) => {
        status = s;
      },
    );
  } catch (error) {
    throw new Error(`cannot exec into sandbox pod ${target.pod}: ${describe(error)}`, { cause: error });
  }
  socket.on('close', () => {
    if (status && status.status !== 'Success') diagnostics(`agent exec ended: ${status.message ?? ''}`);
    // Whatever was read is delivered first; then the stream ends (AgentClient fails its open requests).
    duplex.once('end', () => duplex.destroy());
    duplex.push(null);
  });
  return duplex;
}

/** The ws library rejects a refused upgrade with an ErrorEvent-like object whose message has the status. */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'message' in error) return String(error.message);
  return String(error);
}
