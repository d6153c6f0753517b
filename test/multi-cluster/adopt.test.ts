import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { startClusters, startRuntime, until, type NamedCluster } from './harness.js';

/**
 * A restart of the server while Jobs run on both clusters, one of them unreachable when the new server
 * starts: adopt asks every cluster (a Job exists on one only), and the one that could not answer is asked
 * again when it answers.
 */
let clusters: NamedCluster[] = [];
let server: InProcess | undefined;
let dir = '';
afterEach(async () => {
  await server?.close();
  await Promise.all(clusters.map((c) => c.fake.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
  server = undefined;
  clusters = [];
});

async function serve(replicaId: string, path: string, warnings: string[]): Promise<InProcess> {
  const runtime = await startRuntime(clusters, 60_000, warnings);
  const store = createSqliteStore({ path });
  return inProcess({ runtime, store, concurrency: 8, replicaId });
}

describe('adopt across clusters after a restart', () => {
  it('re-adopts on the cluster holding each Job; one down at restart is asked when it answers', async () => {
    dir = await mkdtemp(join(tmpdir(), 'crucible-multi-'));
    const path = join(dir, 'crucible.db');
    clusters = await startClusters({ east: 20, west: 20 });
    const [east, west] = clusters as [NamedCluster, NamedCluster];
    const warnings: string[] = [];
    server = await serve('before-restart', path, warnings);
    const first = server;
    const code = 'import time\nprint("before", flush=True)\ntime.sleep(2.5)\nprint("after")';
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      ids.push((await first.service.submit({ language: 'python', code })).evaluation.id);
    }
    await until(
      async () =>
        Promise.all(
          ids.map(async (id) => (await first.service.withOutput(await first.service.get(id))).stdout),
        ),
      (outs) => outs.every((out) => out === 'before\n'),
      20_000,
    );
    expect(ids.filter((id) => west.jobsCreated.includes(id)).length).toBeGreaterThan(0);
    expect(ids.filter((id) => east.jobsCreated.includes(id)).length).toBeGreaterThan(0);
    await first.close();
    server = undefined;

    const westPort = west.fake.server.port;
    await west.fake.server.stop();
    server = await serve('after-restart', path, warnings);
    const second = server;
    expect(second.service.clusters().map((c) => [c.name, c.health, c.running])).toEqual([
      ['east', 'healthy', ids.filter((id) => east.jobsCreated.includes(id)).length],
      ['west', 'unreachable', ids.filter((id) => west.jobsCreated.includes(id)).length],
    ]);
    await west.fake.server.listen(westPort);

    const finals = await Promise.all(ids.map((id) => second.service.wait(id, 60_000)));
    for (const evaluation of finals) {
      const { stdout } = await second.service.withOutput(evaluation);
      expect([evaluation.status, stdout, evaluation.result?.outputComplete]).toEqual([
        'succeeded',
        'before\nafter\n',
        true,
      ]);
      expect([...east.jobsCreated, ...west.jobsCreated].filter((l) => l === evaluation.id)).toHaveLength(1);
    }
  }, 90_000);
});
