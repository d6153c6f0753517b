import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, jobsGone, request, setup, type Env, type Tracked } from './harness.js';

/** Prints, waits long enough for a fault to be injected while it runs, prints again. */
const TWO_PART = 'import time\nprint("first", flush=True)\ntime.sleep(0.8)\nprint("second")';

let env: Env;
beforeAll(async () => {
  env = await setup();
});
afterAll(async () => env.close());
afterEach(() => {
  const { kubelet, controllers, server } = env.cluster;
  kubelet.faults.oomKill = () => false;
  kubelet.faults.configError = () => false;
  kubelet.faults.deleteAfterTermination = () => false;
  kubelet.faults.runningReportDelayMs = 0;
  controllers.faults.schedulingDelayMs = 0;
  controllers.faults.unschedulable = false;
  controllers.faults.podQuota = null;
  server.faults.expiredAsHttp = false;
  server.faults.watchChunking = 'normal';
});

async function expectTwoPart(t: Tracked): Promise<void> {
  await t.until();
  expect([t.evaluation.status, t.out, t.err]).toEqual(['succeeded', 'first\nsecond\n', '']);
}

describe('watch faults', () => {
  it('survives dropped watches', async () => {
    const t = await env.run(request(TWO_PART));
    await t.until((s) => s === 'running');
    env.cluster.server.dropWatches();
    await expectTwoPart(t);
  });

  it('detects half-open watches and reconnects', async () => {
    const t = await env.run(request(TWO_PART));
    await t.until((s) => s === 'running');
    env.cluster.server.halfOpenWatches();
    await expectTwoPart(t);
    expect(env.warnings.some((w) => w.includes('silent'))).toBe(true);
  });

  it('relists after an ERROR 410 Expired event mid-run', async () => {
    const t = await env.run(request(TWO_PART));
    await t.until((s) => s === 'running');
    env.cluster.server.expireWatches();
    await expectTwoPart(t);
  });

  it('relists after an HTTP 410 on reconnect', async () => {
    const t = await env.run(request(TWO_PART));
    await t.until((s) => s === 'running');
    env.cluster.server.faults.expiredAsHttp = true;
    env.cluster.store.compact();
    env.cluster.server.dropWatches();
    await expectTwoPart(t);
  });

  it('parses watch events split across chunks and merged into one', async () => {
    for (const mode of ['split', 'merge'] as const) {
      env.cluster.server.faults.watchChunking = mode;
      env.cluster.server.dropWatches();
      const t = await env.run(request(TWO_PART.replace('0.8', '0.2')));
      await t.until();
      expect([mode, t.evaluation.status, t.out]).toEqual([mode, 'succeeded', 'first\nsecond\n']);
    }
  });

  it('rides out an API server restart (refused, then 429 with Retry-After, history reset)', async () => {
    const runs = await Promise.all([env.run(request(TWO_PART)), env.run(request(TWO_PART))]);
    await Promise.all(runs.map((t) => t.until((s) => s === 'running')));
    // Down long enough for the programs to finish during the outage.
    await env.cluster.restart({ downMs: 1000, throttled: 3, retryAfterSeconds: 0.2 });
    for (const t of runs) await expectTwoPart(t);
    expect(await jobsGone(env.cluster)).toBe(true);
  });
});

describe('pod faults', () => {
  it('waits out slow scheduling', async () => {
    env.cluster.controllers.faults.schedulingDelayMs = 700;
    const t = await env.run(request('print("late")'));
    await t.until();
    expect([t.evaluation.status, t.out]).toEqual(['succeeded', 'late\n']);
  });

  it('queues behind a ResourceQuota until pods free up', async () => {
    env.cluster.controllers.faults.podQuota = 2;
    const before = env.cluster.controllers.quotaRejections;
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => env.run(request(`import time\ntime.sleep(0.1)\nprint(${i})`))),
    );
    await Promise.all(runs.map((t) => t.until()));
    runs.forEach((t, i) => expect([t.evaluation.status, t.out]).toEqual(['succeeded', `${i}\n`]));
    expect(env.cluster.controllers.quotaRejections).toBeGreaterThan(before);
  });

  it('turns an unschedulable pod into error/unschedulable', async () => {
    env.cluster.controllers.faults.unschedulable = true;
    const t = await env.run(request('print("never")'));
    await t.until();
    expect(t.evaluation.status).toBe('error');
    expect(t.evaluation.result).toMatchObject({ reason: 'unschedulable' });
    expect(t.evaluation.result?.message).toMatch(/Insufficient memory/);
    expect(await jobsGone(env.cluster)).toBe(true);
  });

  it('turns CreateContainerConfigError into error/config_error', async () => {
    const t0 = request('print(1)');
    env.cluster.kubelet.faults.configError = (pod) =>
      pod.metadata.labels?.['crucible.dev/evaluation'] === t0.evaluationId;
    const t = await env.run(t0);
    await t.until();
    expect(t.evaluation.result).toMatchObject({ reason: 'config_error' });
    expect(t.evaluation.status).toBe('error');
  });

  it('reports OOMKilled as failed/oom with the output written before', async () => {
    const t0 = request('import time\nprint("allocating", flush=True)\ntime.sleep(10)');
    env.cluster.kubelet.faults.oomKill = (pod) =>
      pod.metadata.labels?.['crucible.dev/evaluation'] === t0.evaluationId;
    const t = await env.run(t0);
    await t.until();
    expect(t.evaluation.status).toBe('failed');
    expect(t.evaluation.result).toMatchObject({ reason: 'oom', exitCode: 137 });
  });

  it('keeps the output of a pod deleted before its final log read', async () => {
    const t0 = request('import time\nprint("kept", flush=True)\ntime.sleep(0.4)\nprint("too")');
    env.cluster.kubelet.faults.deleteAfterTermination = (pod) =>
      pod.metadata.labels?.['crucible.dev/evaluation'] === t0.evaluationId;
    const t = await env.run(t0);
    await t.until();
    expect([t.evaluation.status, t.out]).toEqual(['succeeded', 'kept\ntoo\n']);
  });

  it('turns an eviction into error/infrastructure, keeping the output so far', async () => {
    const t = await env.run(request('import time\nprint("evict me", flush=True)\ntime.sleep(30)'));
    await t.until((s) => s === 'running');
    await eventually(() => t.out === 'evict me\n');
    const pod = env.cluster.store
      .list('pods', 'crucible-test')
      .find((p) => p.metadata.labels?.['crucible.dev/evaluation'] === t.request.evaluationId);
    await env.cluster.kubelet.evict('crucible-test', pod!.metadata.name);
    await t.until();
    expect([t.evaluation.status, t.evaluation.result?.reason, t.out]).toEqual([
      'error',
      'infrastructure',
      'evict me\n',
    ]);
    expect(t.evaluation.result?.message).toMatch(/disrupted/);
  });

  it('handles sub-second pods never seen Running', async () => {
    env.cluster.kubelet.faults.runningReportDelayMs = 5000;
    const runs = await Promise.all(Array.from({ length: 5 }, (_, i) => env.run(request(`print(${i})`))));
    await Promise.all(runs.map((t) => t.until()));
    runs.forEach((t, i) => {
      expect([t.evaluation.status, t.out]).toEqual(['succeeded', `${i}\n`]);
      expect(t.calls).toEqual(['finished']);
      expect(t.evaluation.timings.startedAt).not.toBeNull();
    });
  });
});

describe('faults needing their own cluster', () => {
  it('turns an image that cannot be pulled into error/image_pull', async () => {
    const own = await setup({ images: { python: 'registry.invalid/python:nope' } });
    try {
      const t = await own.run(request('print(1)'));
      await t.until();
      expect(t.evaluation.status).toBe('error');
      expect(t.evaluation.result).toMatchObject({ reason: 'image_pull' });
      expect(t.evaluation.result?.message).toMatch(/registry.invalid/);
    } finally {
      await own.close();
    }
  });

  it('turns a container that cannot start (runner binary missing) into error/container_start_failed', async () => {
    const own = await setup({ runnerImage: 'ghcr.io/crucible/runner:empty' });
    try {
      own.cluster.kubelet.faults.emptyRunnerImages.add('ghcr.io/crucible/runner:empty');
      const t = await own.run(request('print(1)'));
      await t.until();
      expect([t.evaluation.status, t.evaluation.result?.reason, t.evaluation.result?.exitCode]).toEqual([
        'error',
        'container_start_failed',
        null,
      ]);
      expect(t.evaluation.result?.message).toMatch(
        /StartError.*stat \/crucible\/bin\/crucible-runner: no such file or directory/,
      );
      expect(await jobsGone(own.cluster)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('retries lists that answer 5xx', async () => {
    const own = await setup();
    try {
      own.cluster.server.faults.failLists = { count: 4, status: 503 };
      const t = await own.run(request('print("listed")'));
      await t.until();
      expect([t.evaluation.status, t.out]).toEqual(['succeeded', 'listed\n']);
      expect(own.warnings.some((w) => w.includes('503'))).toBe(true);
    } finally {
      await own.close();
    }
  });
});

describe('unreachable API server', () => {
  it('start retries until the evaluation deadline, then rejects, when the API never answers', async () => {
    const own = await setup({ startRetryMarginSeconds: 0 });
    try {
      await own.cluster.server.stop();
      const started = Date.now();
      await expect(own.run(request('print(1)', { limits: { timeoutSeconds: 1 } }))).rejects.toThrow(
        /gave up at the deadline: Kubernetes API unreachable/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await own.close();
    }
  });
});
