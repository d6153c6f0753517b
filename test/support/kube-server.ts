import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Crucible } from '../../src/client/index.js';
import { ServerConfigSchema } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { MemoryLogger } from './in-process.js';

/** A real server (in this process) on the Kubernetes backend of a fake API server, with its own data dir. */
export interface KubeServer {
  readonly cluster: FakeCluster;
  readonly server: RunningServer;
  readonly dataDir: string;
  readonly client: Crucible;
  readonly logger: MemoryLogger;
  /** Stops the server, then the cluster, and removes the data dir. */
  close(): Promise<void>;
}

/**
 * Starts one; `config` is merged over the defaults (any port, namespace `crucible-test`, the cluster's
 * kubeconfig), as `crucible serve` would parse it.
 */
export async function startKubeServer(
  config: Record<string, unknown> = {},
  logger = new MemoryLogger(),
): Promise<KubeServer> {
  const cluster = await startFakeCluster();
  const dataDir = await mkdtemp(join(tmpdir(), 'crucible-kube-'));
  const kubernetes = (config['kubernetes'] ?? {}) as Record<string, unknown>;
  const parsed = ServerConfigSchema.parse({
    port: 0,
    dataDir,
    backend: 'kubernetes',
    ...config,
    kubernetes: { namespace: 'crucible-test', ...kubernetes, kubeconfig: cluster.kubeconfigPath },
  });
  const server = await startServer(parsed, logger);
  return {
    cluster,
    server,
    dataDir,
    logger,
    client: new Crucible({ baseUrl: server.url }),
    close: async () => {
      await server.close();
      await cluster.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
