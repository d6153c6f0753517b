import { Crucible } from '../../client/index.js';

/**
 * Runs `work` against the server. When none answers and `allowLocal` is set, starts an in-process server (same
 * data directory as `crucible serve`), says so, and runs `work` against that. The probe comes first so a
 * submission is never sent to two servers; the server code is loaded only in that case.
 */
export async function withLocalFallback<T>(
  client: Crucible,
  allowLocal: boolean,
  work: (client: Crucible) => Promise<T>,
): Promise<T> {
  if (!allowLocal || (await isReachable(client.baseUrl))) return work(client);
  process.stderr.write(`crucible: no server at ${client.baseUrl}; running in-process instead\n`);
  const { startInProcessServer } = await import('./in-process-server.js');
  const server = await startInProcessServer();
  try {
    return await work(new Crucible({ baseUrl: server.url }));
  } finally {
    await server.close();
  }
}

/**
 * Something accepts connections at the server's address: a TCP connect, not an HTTP request, since the
 * submission that follows is one anyway (a non-HTTP listener then fails it with a clear error). A refused,
 * unresolvable or silent (2 s) address has no server, so running in-process cannot run anything twice.
 */
function isReachable(baseUrl: string): Promise<boolean> {
  const url = new URL(baseUrl);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const net = process.getBuiltinModule('node:net');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    const done = (reachable: boolean) => {
      socket.destroy();
      resolve(reachable);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
