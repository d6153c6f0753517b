import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Evaluation, QueueStats } from '../../src/client/index.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { describePostgres, type TestDatabase } from '../support/postgres.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';

const LEASE_SECONDS = 2;
const EVALUATIONS = 12;

/**
 * Two replicas of the Kubernetes backend on one PostgreSQL database and one (fake) cluster: one leader
 * watches the cluster and runs Jobs; killed mid-run, the other takes the Lease and re-adopts the Jobs.
 */
describePostgres('leader election on the Kubernetes backend', (database: () => TestDatabase) => {
  let cluster: FakeCluster;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    cluster = await startFakeCluster();
    for (const name of ['replica-a', 'replica-b']) {
      servers.push(
        await startTestServer({
          args: [
            ...['--backend', 'kubernetes', '--kubeconfig', cluster.kubeconfigPath],
            ...['--store', database().url, '--replica-id', name],
            ...['--lease-seconds', String(LEASE_SECONDS), '--concurrency', '8'],
          ],
        }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) {
      await server.stop();
      await removeDataDir(server.dataDir);
    }
    await cluster?.close();
  });

  async function queueOf(server: TestServer): Promise<QueueStats> {
    return server.client.queue();
  }

  async function leaderOf(): Promise<{ leader: TestServer; follower: TestServer }> {
    for (;;) {
      const working = await Promise.all(servers.map(async (s) => (await queueOf(s)).replica.working));
      if (working.filter(Boolean).length === 1) {
        const index = working.indexOf(true);
        return { leader: servers[index]!, follower: servers[1 - index]! };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('exactly one replica leads; killed mid-run, the other takes over and every evaluation ends complete', async () => {
    const { leader, follower } = await leaderOf();
    const code = 'import time\nprint("start", flush=True)\ntime.sleep(3)\nprint("end")';
    const submitted: Evaluation[] = [];
    for (let i = 0; i < EVALUATIONS; i++) {
      const via = i % 2 === 0 ? leader : follower;
      submitted.push(await via.client.submit({ language: 'python', code, labels: { n: String(i) } }));
    }
    // Mid-run: the last one submitted is running (so are the others, or they are queued behind it).
    await expect
      .poll(async () => (await follower.client.get(submitted.at(-1)!.id)).status, { timeout: 30_000 })
      .toBe('running');

    const killedAt = Date.now();
    await leader.crash();
    await expect
      .poll(async () => (await queueOf(follower)).replica.working, { timeout: 15_000, interval: 25 })
      .toBe(true);
    const takeoverMs = Date.now() - killedAt;
    // As client-go: the Lease counts as expired a lease duration after the follower last saw it change (it
    // looks every retry period, jittered up to 2.2×), and it looks again within one more jittered period.
    const retryPeriodMs = (LEASE_SECONDS * 1000) / 7.5;
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - retryPeriodMs);
    expect(takeoverMs).toBeLessThan(LEASE_SECONDS * 1000 + 2 * 2.2 * retryPeriodMs + 500);

    for (const evaluation of submitted) {
      const final = await follower.client.wait(evaluation.id, { timeoutSeconds: 60 });
      expect(final.status, evaluation.id).toBe('succeeded');
      expect(final.result?.stdout, evaluation.id).toBe('start\nend\n');
      const steps = (await follower.client.transitions(evaluation.id)).map((t) => `${t.from}>${t.to}`);
      expect(new Set(steps).size, evaluation.id).toBe(steps.length);
      expect(steps.filter((s) => s.startsWith('queued>')).length, evaluation.id).toBe(1);
    }
    const readopted = follower.log().match(/re-adopted \S+ \(from replica-/g) ?? [];
    expect(readopted.length).toBeGreaterThan(0);
    console.info(
      `leader killed: the follower led after ${takeoverMs} ms and re-adopted ${readopted.length} Jobs`,
    );
  }, 120_000);
});
