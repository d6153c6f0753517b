import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configInput, serveCommand } from '../../src/cli/commands/serve.js';
import { parseTokens } from '../../src/cli/parser.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { configFromEnv, ServerConfigSchema } from '../../src/config/index.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { Crucible as ApiClient } from '../../src/client/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, MemoryLogger } from '../support/in-process.js';

describe('configuration of more than one cluster', () => {
  it('CRUCIBLE_CLUSTERS="a=/path,b=/path" and the lost bound come from the environment', () => {
    const config = ServerConfigSchema.parse(
      configFromEnv({
        CRUCIBLE_BACKEND: 'kubernetes',
        CRUCIBLE_CLUSTERS: 'eu-1=/k/eu.yaml, us-1=/k/us.yaml',
        CRUCIBLE_CLUSTER_LOST_AFTER_SECONDS: '30',
      }),
    );
    expect([config.clusters, config.clusterLostAfterSeconds]).toEqual([
      [
        { name: 'eu-1', kubeconfig: '/k/eu.yaml' },
        { name: 'us-1', kubeconfig: '/k/us.yaml' },
      ],
      30,
    ]);
    expect(ServerConfigSchema.parse({}).clusters).toEqual([]);
  });

  it('refuses an entry without a kubeconfig, a name that is no label value, and a name given twice', () => {
    for (const clusters of [['eu'], ['bad name=/k'], ['a=/x', 'a=/y']]) {
      expect(
        ServerConfigSchema.safeParse({ backend: 'kubernetes', clusters }).success,
        String(clusters),
      ).toBe(false);
    }
  });
});

describe('crucible serve --cluster NAME=KUBECONFIG', () => {
  it('is repeatable, chooses the kubernetes backend, and wins over CRUCIBLE_CLUSTERS', () => {
    const { flags } = parseTokens(
      ['--cluster', 'east=/k/east.yaml', '--cluster=west=/k/west.yaml', '--cluster-lost-after', '9'],
      serveCommand.options ?? [],
    );
    const config = ServerConfigSchema.parse(
      configInput(configFromEnv({ CRUCIBLE_CLUSTERS: 'old=/k/old.yaml' }), flags),
    );
    expect([config.backend, config.clusters, config.clusterLostAfterSeconds]).toEqual([
      'kubernetes',
      [
        { name: 'east', kubeconfig: '/k/east.yaml' },
        { name: 'west', kubeconfig: '/k/west.yaml' },
      ],
      9,
    ]);
    const local = ServerConfigSchema.parse(
      configInput(configFromEnv({}), parseTokens([], serveCommand.options ?? []).flags),
    );
    expect([local.backend, local.clusters]).toEqual(['local', []]);
  });
});

/** The composition root with two clusters, driven over HTTP. */
describe('startServer with two clusters', () => {
  let east: FakeCluster;
  let west: FakeCluster;
  let server: RunningServer | undefined;
  let dataDir = '';
  const created = new Map<FakeCluster, number>();

  beforeAll(async () => {
    [east, west] = await Promise.all([startFakeCluster(), startFakeCluster()]);
    for (const cluster of [east, west]) {
      created.set(cluster, 0);
      cluster.store.subscribe((event) => {
        if (event.type === 'ADDED' && event.resource === 'jobs')
          created.set(cluster, created.get(cluster)! + 1);
      });
    }
    dataDir = await mkdtemp(join(tmpdir(), 'crucible-multi-server-'));
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([east?.close(), west?.close()]);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs evaluations on both clusters and lists them in GET /v1/clusters', async () => {
    const log = new MemoryLogger();
    const config = ServerConfigSchema.parse({
      port: 0,
      dataDir,
      backend: 'kubernetes',
      concurrency: 4,
      clusters: [`east=${east.kubeconfigPath}`, `west=${west.kubeconfigPath}`],
      kubernetes: { namespace: 'crucible-test' },
    });
    server = await startServer(config, log);
    expect(log.lines.map((l) => l.message)).toContainEqual('spreading evaluations over clusters east, west');
    const client = new ApiClient(server.url);
    const submitted = await Promise.all(
      [0, 1, 2, 3].map((i) => client.submit({ language: 'python', code: `print(${i})` })),
    );
    const finals = await Promise.all(submitted.map((s) => client.get(s.id, 60)));
    expect(finals.map((f) => [f.status, f.result?.stdout])).toEqual(
      [0, 1, 2, 3].map((i) => ['succeeded', `${i}\n`]),
    );
    // No quota on either: ties, spread round-robin.
    expect([created.get(east), created.get(west)]).toEqual([2, 2]);
    const response = await fetch(`${server.url}/v1/clusters`);
    expect(response.status).toBe(200);
    const { clusters } = (await response.json()) as {
      clusters: { name: string; health: string; capacity: unknown }[];
    };
    expect(clusters.map((c) => [c.name, c.health, c.capacity])).toEqual([
      ['east', 'healthy', null],
      ['west', 'healthy', null],
    ]);
  }, 90_000);
});

describe('GET /v1/clusters on a backend with one cluster or none', () => {
  it('answers an empty list, not 404', async () => {
    const env = await inProcess({ runtime: new FakeRuntime() });
    try {
      const response = await (await env.api()).inject({ method: 'GET', url: '/v1/clusters' });
      expect([response.statusCode, response.json()]).toEqual([200, { clusters: [] }]);
    } finally {
      await env.close();
    }
  });
});
