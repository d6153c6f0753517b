import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import type { Evaluation } from '../../src/core/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { eventually } from '../security/support.js';

/** Host processes whose name (comm, which a program can set for itself) is `name`. */
function processesNamed(name: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

describeSandboxed('cancel racing the dispatch, in the real bwrap sandbox', () => {
  let p: InProcess;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-cancel-race-'));
    const sandbox = await createSandbox({ isolation: 'bwrap', stateDir: dir, warn: () => undefined });
    p = await inProcess({ runtime: createLocalRuntime(sandbox), concurrency: 2 });
  });
  afterAll(async () => {
    await p?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('200 submit-then-cancel pairs: every one cancelled, no sandbox process left, every slot free', async () => {
    const name = `cr${process.pid.toString(36)}race`.slice(0, 15);
    // Names itself so the host can find it, then would run for 30 s: only a kill ends it in time.
    const code = `open("/proc/self/comm", "w").write(${JSON.stringify(name)})\nimport time\ntime.sleep(30)`;
    const cancelled: Evaluation[] = [];
    for (let batch = 0; batch < 25; batch++) {
      const pairs = await Promise.all(
        Array.from({ length: 8 }, async (_, j) => {
          const { evaluation } = await p.service.submit({ language: 'python', code, timeoutSeconds: 60 });
          // Cancels land at different points: queued, dispatching, launching, running.
          if (j % 4 !== 0) await sleep(j * 3);
          return p.service.cancel(evaluation.id);
        }),
      );
      cancelled.push(...pairs);
    }
    const final = await Promise.all(cancelled.map((e) => p.service.wait(e.id, 30_000)));
    expect(final.map((e) => e.status)).toEqual(final.map(() => 'cancelled'));
    // Some of them really were running in a sandbox when the cancel came.
    expect(final.some((e) => e.timings.startedAt !== null)).toBe(true);
    expect(await eventually(async () => (await p.service.queueStats()).replica.running === 0, 15_000)).toBe(
      true,
    );
    expect(await eventually(() => processesNamed(name).length === 0, 15_000)).toBe(true);
    // Nothing dispatched after its cancel: the queue holds nothing either.
    expect((await p.service.queueStats()).queued).toEqual({ high: 0, normal: 0, low: 0 });
  }, 120_000);
});
