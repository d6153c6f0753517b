import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesRuntime, type KubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { eventually, FAST, jobsGone, request, Tracked } from './harness.js';

let cluster: FakeCluster;
const podsCreated = new Map<string, number>();

beforeAll(async () => {
  cluster = await startFakeCluster();
  cluster.server.faults.bookmarkIntervalMs = 150;
  cluster.store.subscribe((e) => {
    const label = e.object.metadata.labels?.['crucible.dev/evaluation'];
    if (e.resource === 'pods' && e.type === 'ADDED' && label)
      podsCreated.set(label, (podsCreated.get(label) ?? 0) + 1);
  });
});
afterAll(async () => cluster.close());

const runtime = (): Promise<Runtime> =>
  createKubernetesRuntime({ ...FAST, kubeconfigPath: cluster.kubeconfigPath });

describe('restart of Crucible', () => {
  it('re-adopts running and finished Jobs: none lost, none run twice', async () => {
    const before = await runtime();
    const slow = request('import time\nprint("first", flush=True)\ntime.sleep(1.2)\nprint("second")');
    const quick = request('import time\nprint("first", flush=True)\ntime.sleep(0.2)\nprint("second")');
    const first = [new Tracked(slow), new Tracked(quick)];
    await before.start(slow, first[0]!);
    await before.start(quick, first[1]!);
    await Promise.all(first.map((t) => t.until((s) => s === 'running')));
    await eventually(() => first.every((t) => t.out === 'first\n'));
    await before.close();
    // `quick` finishes while Crucible is down; its Job stays because its result was never stored.
    await new Promise((r) => setTimeout(r, 400));

    const after = await runtime();
    try {
      const again = [new Tracked(slow), new Tracked(quick)];
      // `slow` resumes after the bytes the service already stored; `quick` gets its output from the start.
      const stored = { stdout: Buffer.concat(first[0]!.stdout).length, stderr: 0 };
      expect(stored.stdout).toBe('first\n'.length);
      expect(await (after as KubernetesRuntime).adopt(slow, again[0]!, stored)).toBe('adopted');
      expect(await after.adopt(quick, again[1]!)).toBe('adopted');
      await Promise.all(again.map((t) => t.until()));
      expect([again[0]!.evaluation.status, first[0]!.out + again[0]!.out]).toEqual([
        'succeeded',
        'first\nsecond\n',
      ]);
      expect([again[1]!.evaluation.status, again[1]!.out]).toEqual(['succeeded', 'first\nsecond\n']);
      for (const t of again) expect(podsCreated.get(t.request.evaluationId)).toBe(1);
      expect(await after.adopt(request('print(1)'), new Tracked(request('print(1)')))).toBe('lost');
      expect(await jobsGone(cluster)).toBe(true);
    } finally {
      await after.close();
    }
  });

  it('does not run an evaluation twice when start is repeated after a crash', async () => {
    const a = await runtime();
    const req = request('import time\nprint("once", flush=True)\ntime.sleep(0.5)');
    await a.start(req, new Tracked(req));
    await a.close();
    const b = await runtime();
    try {
      const t = new Tracked(req);
      await b.start(req, t);
      await t.until();
      expect([t.evaluation.status, t.out]).toEqual(['succeeded', 'once\n']);
      expect(podsCreated.get(req.evaluationId)).toBe(1);
    } finally {
      await b.close();
    }
  });
});

describe('Job deletion', () => {
  it('waits for the whenPersisted hook before deleting the Job', async () => {
    let persist: () => void = () => undefined;
    const persisted = new Promise<void>((resolve) => (persist = resolve));
    const rt = await createKubernetesRuntime({
      ...FAST,
      kubeconfigPath: cluster.kubeconfigPath,
      whenPersisted: () => persisted,
    });
    try {
      const req = request('print("stored")');
      const t = new Tracked(req);
      await rt.start(req, t);
      await t.until();
      await new Promise((r) => setTimeout(r, 200));
      const mine = (): unknown[] =>
        cluster.store
          .list('jobs', 'crucible-test')
          .filter((j) => j.metadata.labels?.['crucible.dev/evaluation'] === req.evaluationId);
      expect(mine()).toHaveLength(1);
      persist();
      await eventually(() => mine().length === 0);
    } finally {
      await rt.close();
    }
  });
});

describe('poll monitor (baseline only)', () => {
  it('reaches the same terminal states, later', async () => {
    const poll = await createKubernetesRuntime({
      ...FAST,
      monitor: 'poll',
      pollIntervalMs: 100,
      kubeconfigPath: cluster.kubeconfigPath,
    });
    try {
      const req = request('import sys\nprint("polled")\nsys.exit(2)');
      const t = new Tracked(req);
      await poll.start(req, t);
      await t.until();
      expect([t.evaluation.status, t.out, t.evaluation.result?.exitCode]).toEqual(['failed', 'polled\n', 2]);
    } finally {
      await poll.close();
    }
  });
});
