import { afterEach, describe, expect, it } from 'vitest';
import type { MultiClusterRuntime } from '../../src/runtime/multi-cluster/index.js';
import { jobsGone } from '../kubernetes/harness.js';
import { request, Tracked } from '../runtime/tracked.js';
import { startClusters, startRuntime, type NamedCluster } from './harness.js';

/**
 * The runtime alone over two fake clusters, for the moments the service test cannot time: a start placed on
 * a cluster whose API has just died, and a start whose Job may already exist on it.
 */
let clusters: NamedCluster[] = [];
let runtime: MultiClusterRuntime | undefined;
const warnings: string[] = [];
afterEach(async () => {
  await runtime?.close();
  await Promise.all(clusters.map((c) => c.fake.close()));
  runtime = undefined;
  clusters = [];
  warnings.length = 0;
});

async function twoClusters(lostAfterMs: number, probeIntervalMs = 60_000) {
  // East has more free quota, so placement picks it first.
  clusters = await startClusters({ east: 20, west: 5 });
  // Probes far apart: only the runtime's own failed calls make it probe, so a kill is not noticed before a start.
  runtime = await startRuntime(clusters, lostAfterMs, warnings, probeIntervalMs);
  return { east: clusters[0]!, west: clusters[1]!, runtime };
}

const start = async (rt: MultiClusterRuntime, code: string, labels: Record<string, string> = {}) => {
  const tracked = new Tracked(request(code, { labels }));
  await rt.start(tracked.request, tracked);
  return tracked;
};

describe('failover of starts', () => {
  it('a start on a cluster that died before it noticed is moved: it runs once, on the other cluster', async () => {
    const { east, west, runtime: rt } = await twoClusters(30_000);
    await east.fake.server.stop();
    const tracked = await start(rt, 'print("moved")');
    await tracked.until();
    expect([tracked.evaluation.status, tracked.out]).toEqual(['succeeded', 'moved\n']);
    expect([east.jobsCreated.length, west.jobsCreated]).toEqual([0, [tracked.request.evaluationId]]);
    expect(warnings.some((w) => /went down before its Job was created; placing it elsewhere/.test(w))).toBe(
      true,
    );
    expect(rt.clusters().map((c) => [c.name, c.health])).toEqual([
      ['east', 'unreachable'],
      ['west', 'healthy'],
    ]);
  });

  it('a hung API (accepts, never answers) is seen by the probe timeout; a start whose Job was not sent moves', async () => {
    const { east, west, runtime: rt } = await twoClusters(30_000, 200);
    east.fake.server.faults.stalled = true;
    const tracked = await start(rt, 'print("moved off a hung API")');
    await tracked.until();
    expect([tracked.evaluation.status, tracked.out]).toEqual(['succeeded', 'moved off a hung API\n']);
    expect([east.jobsCreated.length, west.jobsCreated.length]).toEqual([0, 1]);
    expect(rt.clusters()[0]).toMatchObject({ health: 'unreachable', lastError: 'no answer within 2000 ms' });
    // Its runtime's close waits on the calls hanging there: the whole runtime closes anyway, within 5 s.
    const closing = Date.now();
    await rt.close();
    runtime = undefined;
    expect(Date.now() - closing).toBeLessThan(8000);
    expect(warnings.some((w) => /cluster east did not close within 5 s/.test(w))).toBe(true);
  });

  it('a Job create whose reply was lost is not moved: it ends as cluster_unreachable, its Job deleted later', async () => {
    const { east, west, runtime: rt } = await twoClusters(1500);
    // The ConfigMap's and the Job's creates are carried out, their answers never arrive; then east dies.
    east.fake.server.faults.lostCreateReplies = 2;
    const died = new Promise<void>((resolve) => {
      const off = east.fake.store.subscribe((event) => {
        if (event.type === 'ADDED' && event.resource === 'jobs') {
          off();
          void east.fake.server.stop().then(resolve);
        }
      });
    });
    const tracked = new Tracked(request('import time\ntime.sleep(0.5)\nprint("once")'));
    const started = rt.start(tracked.request, tracked);
    await died;
    await started;
    await tracked.until();
    expect([tracked.evaluation.status, tracked.evaluation.result?.reason]).toEqual([
      'error',
      'cluster_unreachable',
    ]);
    expect(tracked.evaluation.result?.message).toMatch(
      /cluster east did not answer for 2 s; the evaluation was not run again/,
    );
    expect([east.jobsCreated.length, west.jobsCreated.length]).toEqual([1, 0]);
    // When east answers again, what it still holds of the given-up evaluation is deleted.
    await east.fake.server.listen(east.port);
    expect(await jobsGone(east.fake, 10_000)).toBe(true);
  });

  it('an evaluation pinned with the cluster label waits for its cluster instead of moving', async () => {
    const { east, west, runtime: rt } = await twoClusters(30_000);
    const port = east.fake.server.port;
    await east.fake.server.stop();
    const tracked = new Tracked(request('print("pinned")', { labels: { cluster: 'east' } }));
    const started = rt.start(tracked.request, tracked);
    await new Promise((r) => setTimeout(r, 800));
    await east.fake.server.listen(port);
    await started;
    await tracked.until();
    expect([tracked.evaluation.status, tracked.out]).toEqual(['succeeded', 'pinned\n']);
    expect([east.jobsCreated.length, west.jobsCreated.length]).toEqual([1, 0]);
  });

  it('a label naming no cluster is refused at start', async () => {
    const { runtime: rt } = await twoClusters(30_000);
    const tracked = new Tracked(request('print(1)', { labels: { cluster: 'nowhere' } }));
    await expect(rt.start(tracked.request, tracked)).rejects.toThrow(/no cluster named "nowhere"/);
  });
});
