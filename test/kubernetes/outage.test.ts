import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobName, payloadName } from '../../src/runtime/kubernetes/names.js';
import { eventually, jobsGone, request, setup, type Env, type Tracked } from './harness.js';

/**
 * API server outages as the issue saw them against a real cluster: connections refused for a second, then
 * 429 + Retry-After while the server comes back, with its watch history reset.
 */
let env: Env;
beforeAll(async () => {
  // A short log grace keeps the "output lost" case quick; everything else is collected well within it.
  env = await setup({ logGraceSeconds: 3 });
});
afterAll(async () => env.close());

const evaluationOf = (label: string) => (pod: { metadata: { labels?: Record<string, string> } }) =>
  pod.metadata.labels?.['crucible.dev/evaluation'] === label;

describe('Kubernetes API outages', () => {
  it('30 evaluations dispatched while the API refuses, then throttles: 30/30 succeed with their output', async () => {
    // A server that has been up: its NetworkPolicy is in place and its watches run.
    const warm = await env.run(request('print(0)'));
    await warm.until();
    const throttledBefore = env.cluster.server.requests.throttled;
    const starts: Promise<Tracked>[] = [];
    await env.cluster.restart({
      downMs: 1000,
      throttled: 40,
      retryAfterSeconds: 0.2,
      whileDown: () => {
        for (let i = 0; i < 30; i += 1) {
          const code = `import sys\nprint("out ${i}")\nsys.stderr.write("err ${i}")`;
          // A generous limit: FAST sets no deadline allowance, and 30 pods at once start slowly.
          starts.push(env.run(request(code, { limits: { timeoutSeconds: 60 } })));
        }
      },
    });
    const runs = await Promise.all(starts);
    await Promise.all(runs.map((t) => t.until()));
    runs.forEach((t, i) => {
      const { status, result } = t.evaluation;
      expect([status, t.out, t.err, result?.outputComplete, result?.message]).toEqual([
        'succeeded',
        `out ${i}\n`,
        `err ${i}`,
        true,
        null,
      ]);
    });
    expect(env.cluster.server.requests.throttled - throttledBefore).toBe(40);
    expect(env.warnings.some((w) => /^create (ConfigMap|Job) .*unreachable/.test(w))).toBe(true);
    expect(env.warnings.some((w) => /^create (ConfigMap|Job) .*429/.test(w))).toBe(true);
    // The warm-up's Job was deleted during the outage: the delete is retried too.
    expect(await jobsGone(env.cluster)).toBe(true);
  });

  it('an outage while pods run: the output is collected, or the result says it is incomplete', async () => {
    const code = 'import time\nprint("first", flush=True)\ntime.sleep(0.5)\nprint("second")';
    const runs = await Promise.all([0, 1, 2].map(() => env.run(request(code))));
    await eventually(() => runs.every((t) => t.out === 'first\n'));
    const lost = runs[0]!;
    await env.cluster.restart({
      downMs: 1500,
      throttled: 5,
      retryAfterSeconds: 0.1,
      // The programs end during the outage; the node holding the first one's log is gone when it is over.
      whileDown: () => (env.cluster.kubelet.faults.logsUnavailable = evaluationOf(lost.request.evaluationId)),
    });
    try {
      await Promise.all(runs.map((t) => t.until()));
    } finally {
      env.cluster.kubelet.faults.logsUnavailable = () => false;
    }
    for (const t of runs) {
      const result = t.evaluation.result!;
      // Never `succeeded` with output missing and nothing saying so.
      if (result.outputComplete) expect(t.out).toBe('first\nsecond\n');
      else expect(result.message).toMatch(/output is incomplete/);
    }
    expect([lost.evaluation.status, lost.out, lost.evaluation.result?.outputComplete]).toEqual([
      'succeeded',
      'first\n',
      false,
    ]);
    for (const t of runs.slice(1)) {
      expect([t.evaluation.status, t.out, t.evaluation.result?.outputComplete]).toEqual([
        'succeeded',
        'first\nsecond\n',
        true,
      ]);
    }
  });

  it('a cancel while the creation is being retried stops it: the program never runs', async () => {
    const req = request('print("must not run")');
    const created: string[] = [];
    const unsubscribe = env.cluster.store.subscribe((event) => {
      if (event.type === 'ADDED' && evaluationOf(req.evaluationId)(event.object))
        created.push(event.resource);
    });
    let started: Promise<unknown> = Promise.resolve();
    const outage = env.cluster.restart({
      downMs: 1000,
      throttled: 0,
      whileDown: () => (started = env.run(req)),
    });
    await eventually(() =>
      env.warnings.some((w) => w.startsWith(`create ConfigMap ${payloadName(req.evaluationId, 0)}`)),
    );
    const cancelled = env.runtime.cancel(req.evaluationId);
    // `start` stops retrying and resolves (the service has recorded `cancelled`); cancel's deletes wait out the outage.
    await Promise.all([started, cancelled, outage]);
    unsubscribe();
    expect(created).toEqual([]);
  });

  it('a create whose reply was lost is repeated, answers 409 and adopts what is there: the program runs once', async () => {
    const req = request('print("once")');
    const pods: string[] = [];
    const unsubscribe = env.cluster.store.subscribe((event) => {
      if (event.type === 'ADDED' && event.resource === 'pods' && evaluationOf(req.evaluationId)(event.object))
        pods.push(event.object.metadata.name);
    });
    // Both the ConfigMap's and the Job's create are carried out, but their answers never arrive.
    env.cluster.server.faults.lostCreateReplies = 2;
    const t = await env.run(req);
    await t.until();
    unsubscribe();
    expect([t.evaluation.status, t.out, pods.length]).toEqual(['succeeded', 'once\n', 1]);
    expect(env.warnings.some((w) => w.startsWith(`create Job ${jobName(req.evaluationId)}`))).toBe(true);
  });
});
