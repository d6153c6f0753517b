import { afterEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import { setup, until, type Env } from './harness.js';

/**
 * Two fake clusters behind the real service (and its API). One cluster's API server is closed mid-run:
 * nothing runs twice, what is not yet on it goes to the other, and what ran on it is carried on when it
 * comes back or ended as `error` / `cluster_unreachable` after the bound.
 */
let env: Env | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const output = async (e: Env, evaluation: Evaluation) => (await e.service.withOutput(evaluation)).stdout;

describe('more than one cluster', () => {
  it('100 evaluations, one cluster killed after 30: all end correctly, the rest run on the survivor', async () => {
    const e = (env = await setup({ lostAfterMs: 3000, concurrency: 16 }));
    const [east, west] = e.clusters as [Env['clusters'][0], Env['clusters'][0]];
    expect(await e.clusterView()).toEqual([
      expect.objectContaining({ name: 'east', health: 'healthy', capacity: 40 }),
      expect.objectContaining({ name: 'west', health: 'healthy', capacity: 40 }),
    ]);
    const ids: string[] = [];
    const submit = async (i: number) => {
      const code = `import time\ntime.sleep(0.3)\nprint("out ${i}")`;
      const { evaluation } = await e.service.submit({ language: 'python', code, timeoutSeconds: 30 });
      ids.push(evaluation.id);
    };
    for (let i = 0; i < 30; i += 1) await submit(i);
    // Several of the 30 run on east by now; the rest wait in the queue (16 slots).
    await until(
      async () => east.jobsCreated.length,
      (n) => n >= 6,
      10_000,
    );
    await e.kill('east');
    const killedAt = Date.now();
    // Submitted before the health probe noticed: placed on east, refused there, moved to west.
    for (let i = 30; i < 40; i += 1) await submit(i);
    const view = await until(
      () => e.clusterView(),
      (v) => v[0]?.health === 'unreachable',
      5000,
    );
    expect(Date.now() - killedAt).toBeLessThan(3000);
    expect(view[0]).toMatchObject({ name: 'east', unreachableSince: expect.any(String) });
    expect(view[1]).toMatchObject({ name: 'west', health: 'healthy' });
    const placedAfterDetection = ids.length;
    for (let i = 40; i < 100; i += 1) await submit(i);

    const finals = await Promise.all(ids.map((id) => e.service.wait(id, 120_000)));
    const unreachable: number[] = [];
    for (const [i, evaluation] of finals.entries()) {
      const onEast = east.jobsCreated.filter((l) => l === evaluation.id).length;
      const onWest = west.jobsCreated.filter((l) => l === evaluation.id).length;
      // Never run twice, never on two clusters.
      expect(onEast + onWest, `evaluation ${i}`).toBeLessThanOrEqual(1);
      const inDoubt = e.warnings.some((w) =>
        w.includes(`${evaluation.id}: cluster east went down while its Job may`),
      );
      if (evaluation.status === 'succeeded') {
        expect([i, await output(e, evaluation), evaluation.result?.outputComplete]).toEqual([
          i,
          `out ${i}\n`,
          true,
        ]);
      } else {
        // Only what was on east when it died (east did not come back within the bound), never on west.
        expect([i, evaluation.status, evaluation.result?.reason, onWest]).toEqual([
          i,
          'error',
          'cluster_unreachable',
          0,
        ]);
        // Submitted after the kill, it can only have been caught in a create whose outcome is unknown.
        const about = e.warnings.filter((w) => w.includes(evaluation.id) || /^cluster /.test(w));
        if (i >= 30) expect([i, inDoubt, about]).toEqual([i, true, about]);
        unreachable.push(i);
      }
      // Submitted once /v1/clusters showed east unreachable: on west, every one.
      if (i >= placedAfterDetection) expect([i, onEast, onWest]).toEqual([i, 0, 1]);
    }
    // What was running on east when it died ended so (its Jobs were there); east did not get all of the 30.
    expect(unreachable.length).toBeGreaterThan(0);
    expect(unreachable.length).toBeLessThan(30);
    const after = await e.clusterView();
    expect(after.map((c) => [c.name, c.health, c.running])).toEqual([
      ['east', 'unreachable', 0],
      ['west', 'healthy', 0],
    ]);
  }, 180_000);

  it('a cluster that comes back within the bound: its running evaluations carry on, output complete', async () => {
    const e = (env = await setup({ lostAfterMs: 60_000, concurrency: 12 }));
    const [east, west] = e.clusters as [Env['clusters'][0], Env['clusters'][0]];
    const code = 'import time\nprint("before", flush=True)\ntime.sleep(1.5)\nprint("after")';
    const submitted: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      submitted.push((await e.service.submit({ language: 'python', code })).evaluation.id);
    }
    await until(
      () => Promise.all(submitted.map((id) => e.service.get(id))),
      (all) => all.every((ev) => ev.status === 'running'),
      20_000,
    );
    const onEastBefore = submitted.filter((id) => east.jobsCreated.includes(id));
    expect(onEastBefore.length).toBeGreaterThan(0);
    await e.kill('east');
    await until(
      () => e.clusterView(),
      (v) => v[0]?.health === 'unreachable' && v[0].running === onEastBefore.length,
      5000,
    );
    const duringOutage: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      duringOutage.push((await e.service.submit({ language: 'python', code })).evaluation.id);
    }
    await e.revive('east');
    await until(
      () => e.clusterView(),
      (v) => v[0]?.health === 'healthy',
      5000,
    );
    const finals = await Promise.all([...submitted, ...duringOutage].map((id) => e.service.wait(id, 60_000)));
    for (const evaluation of finals) {
      expect([evaluation.status, await output(e, evaluation), evaluation.result?.outputComplete]).toEqual([
        'succeeded',
        'before\nafter\n',
        true,
      ]);
      const created = [...east.jobsCreated, ...west.jobsCreated].filter((l) => l === evaluation.id);
      expect(created.length).toBe(1);
    }
    for (const id of duringOutage) expect(west.jobsCreated).toContain(id);
  }, 120_000);
});
