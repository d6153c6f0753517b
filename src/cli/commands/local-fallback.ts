import { Crucible, CrucibleError } from '../../client/index.js';

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

/** Anything that answers HTTP is a server (even an error answer); a refused or silent address is not. */
async function isReachable(baseUrl: string): Promise<boolean> {
  try {
    await new Crucible({ baseUrl, retry: { attempts: 1 } }).health({ signal: AbortSignal.timeout(2000) });
    return true;
  } catch (error) {
    return error instanceof CrucibleError;
  }
}
