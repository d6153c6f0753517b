import os from 'node:os';
import path from 'node:path';
import { ServerConfigSchema, configFromEnv } from '../../config/index.js';
import { createLogger } from '../../logger.js';
import { startServer } from '../../server.js';

/**
 * A server in this process on a free loopback port, with the same data directory as `crucible serve`. Loaded
 * only when `crucible run` finds no server: it pulls in the whole server (fastify, the store, the sandbox).
 */
export async function startInProcessServer(): Promise<{ url: string; close: () => Promise<void> }> {
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
  return startServer(config, { info: () => undefined, warn: log.warn, error: log.error });
}
