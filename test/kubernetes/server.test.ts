import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';

/**
 * The whole product on the Kubernetes backend: the real server process, started with `--backend kubernetes`
 * and the fake cluster's kubeconfig, driven over HTTP like any user would.
 */
describe('crucible serve --backend kubernetes', () => {
  let cluster: FakeCluster;
  const servers: TestServer[] = [];

  const serve = async (dataDir?: string) => {
    const server = await startTestServer({
      ...(dataDir ? { dataDir } : {}),
      args: ['--backend', 'kubernetes', '--kubeconfig', cluster.kubeconfigPath, '--concurrency', '4'],
    });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    cluster = await startFakeCluster();
  });

  afterAll(async () => {
    for (const s of servers) await s.stop();
    if (servers[0]) await removeDataDir(servers[0].dataDir);
    await cluster?.close();
  });

  it('without --concurrency, takes as many slots as the namespace ResourceQuota admits', async () => {
    const hard = { 'count/pods': '3' };
    cluster.store.create('resourcequotas', 'quota-test', {
      metadata: { name: 'evaluations' },
      spec: { hard },
      status: { hard },
    });
    const server = await startTestServer({
      args: ['--backend', 'kubernetes', '--kubeconfig', cluster.kubeconfigPath, '--namespace', 'quota-test'],
    });
    servers.push(server);
    const queue = (await (await fetch(`${server.url}/v1/queue`)).json()) as { capacity: number };
    expect(queue.capacity).toBe(3);
    expect(server.log()).toMatch(/3 slots/);
    await server.stop();
  });

  it('runs an evaluation as a Job and reports its complete, separated output', async () => {
    const server = await serve();
    const submitted = await server.client.submit({
      language: 'python',
      code: 'import sys\nprint("from a pod")\nprint("to stderr", file=sys.stderr)\nsys.exit(3)',
    });
    const final = await server.client.get(submitted.id, 60);
    expect(final.runtime).toBe('kubernetes');
    expect(final.status).toBe('failed');
    expect(final.result).toMatchObject({
      exitCode: 3,
      reason: 'exit_code',
      stdout: 'from a pod\n',
      stderr: 'to stderr\n',
    });
    expect(final.timings.startedAt).not.toBeNull();
    await server.stop();
  });

  it('re-adopts a running Job after a crash: finished once, output stored once', async () => {
    const first = await serve();
    const submitted = await first.client.submit({
      language: 'bash',
      code: 'echo before; read line; echo "after $line"',
      stdin: '',
      timeoutSeconds: 30,
    });
    const slow = await first.client.submit({
      language: 'python',
      code: 'import time\nprint("start", flush=True)\ntime.sleep(1.5)\nprint("end")',
    });
    // Its first output proves the pod is running.
    for await (const line of first.client.logs(slow.id, true)) {
      expect('start\n').toContain(line.data);
      break;
    }
    await first.crash();
    const second = await serve(first.dataDir);
    const adopted = await second.client.get(slow.id, 60);
    expect(adopted.status).toBe('succeeded');
    expect(adopted.result?.stdout).toBe('start\nend\n');
    const other = await second.client.get(submitted.id, 60);
    expect(other.status).toBe('succeeded');
    expect(other.result?.stdout).toBe('before\nafter \n');
    const transitions = (await (
      await fetch(`${second.url}/v1/evaluations/${slow.id}/transitions`)
    ).json()) as {
      items: { to: string }[];
    };
    expect(transitions.items.map((t) => t.to)).toEqual(['queued', 'starting', 'running', 'succeeded']);
  });
});
