import type { Agent } from 'node:http';
import type { Socket } from 'node:net';
import { Crucible, type CrucibleOptions } from '../../client/index.js';

/**
 * Runs `work` against the server. When none answers and `allowLocal` is set, starts an in-process server (same
 * data directory as `crucible serve`), says so, and runs `work` against that. The probe comes first so a
 * submission is never sent to two servers; the server code is loaded only in that case.
 */
export async function withLocalFallback<T>(
  options: CrucibleOptions,
  allowLocal: boolean,
  work: (client: Crucible) => Promise<T>,
): Promise<T> {
  if (!allowLocal) return work(new Crucible(options));
  const baseUrl = new Crucible(options).baseUrl;
  const socket = await connectTo(baseUrl);
  if (socket) {
    // The probe's connection carries the first request (plain HTTP): a second connect costs a short run ~5 ms.
    const reuse = new URL(baseUrl).protocol === 'http:';
    if (!reuse) socket.destroy();
    return work(new Crucible(reuse ? { ...options, agent: agentStartingWith(socket) } : options));
  }
  process.stderr.write(`crucible: no server at ${baseUrl}; running in-process instead\n`);
  const { startInProcessServer } = await import('./in-process-server.js');
  const server = await startInProcessServer();
  try {
    return await work(new Crucible({ ...options, baseUrl: server.url }));
  } finally {
    await server.close();
  }
}

/**
 * A TCP connection to the server's address, or null when nothing accepts one: a connect, not an HTTP request,
 * since the submission that follows is one anyway (a non-HTTP listener then fails it with a clear error). A
 * refused, unresolvable or silent (2 s) address has no server, so running in-process cannot run anything twice.
 */
function connectTo(baseUrl: string): Promise<Socket | null> {
  const url = new URL(baseUrl);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const net = process.getBuiltinModule('node:net');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    const fail = () => {
      socket.destroy();
      resolve(null);
    };
    socket.once('timeout', fail);
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.off('timeout', fail);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** An agent whose first connection is `socket`, already open; later ones are its own. */
function agentStartingWith(socket: Socket): Agent {
  const { Agent } = process.getBuiltinModule('node:http');
  const agent = new Agent({ keepAlive: true });
  let first: Socket | undefined = socket;
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = (connectOptions, callback) => {
    const open = first;
    first = undefined;
    return open && !open.destroyed ? open : connect(connectOptions, callback);
  };
  return agent;
}
