import os from 'node:os';
import path from 'node:path';
import { ServerConfigSchema, configFromEnv } from '../../config/index.js';
import { createLogger } from '../../logger.js';
import { startServer } from '../../server.js';
import { Crucible as ApiClient } from '../../client/index.js';

/**
 * Runs `work` against the server. When none answers and `allowLocal` is set, starts an in-process server on a
 * free loopback port (same data directory as `crucible serve`), says so, and runs `work` against that. The
 * probe comes first so a submission is never sent twice.
 */
export async function withLocalFallback<T>(
  client: ApiClient,
  allowLocal: boolean,
  work: (client: ApiClient) => Promise<T>,
): Promise<T> {
  if (!allowLocal || (await isReachable(client.baseUrl))) return work(client);
  process.stderr.write(`crucible: no server at ${client.baseUrl}; running in-process instead\n`);
  const env = configFromEnv(process.env);
  const config = ServerConfigSchema.parse({
    ...env,
    host: '127.0.0.1',
    port: 0,
    dataDir: env.dataDir ?? path.resolve('.crucible'),
    concurrency: env.concurrency ?? os.availableParallelism(),
    api: { rateLimitPerMinute: 0 },
  });
  const log = createLogger();
  const server = await startServer(config, { info: () => undefined, warn: log.warn, error: log.error });
  try {
    return await work(new ApiClient(server.url));
  } finally {
    await server.close();
  }
}

async function isReachable(baseUrl: string): Promise<boolean> {
  try {
    await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}
