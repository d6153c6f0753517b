import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { RunCgroups, probeCgroups } from '../../src/runtime/local/cgroups.js';
import { joinAtGate, sandboxPidFrom } from '../../src/runtime/local/gate.js';

const root = process.getuid?.() === 0;

describe('local runtime: the gate', () => {
  test("reads bwrap's --info-fd report however it is split", async () => {
    const info = new PassThrough();
    const pid = sandboxPidFrom(info);
    info.write('{\n    "child-pid": 4');
    info.write('2,\n    "cgroup-namespace": 4026532652\n}\n');
    expect(await pid).toBe(42);
  });

  test('answers null when bwrap ends without creating a sandbox', async () => {
    const info = new PassThrough();
    const pid = sandboxPidFrom(info);
    info.end('');
    expect(await pid).toBeNull();
  });

  test.skipIf(!root)(
    'refuses to open the gate of a sandbox process that already forked (needs root and cgroup v1)',
    async () => {
      if ((await probeCgroups()) !== null) throw new Error('cgroup v1 controllers are not writable');
      const cgroups = await RunCgroups.create({ memoryBytes: 64 << 20, maxTasks: 8 });
      // Stands in for a sandbox process: it has a child of its own, as it must not have at its gate.
      const parent = spawn('/bin/sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
      const exited = once(parent, 'exit');
      const pid = parent.pid ?? 0;
      try {
        const children = await childrenOf(pid);
        expect(() => joinAtGate(cgroups, pid, pid)).toThrow(/forked/);
        // The child was born before the join, outside the cgroups: kill it by pid.
        for (const child of children) process.kill(child, 'SIGKILL');
      } finally {
        await cgroups.killAll();
        await exited;
        await cgroups.remove();
      }
    },
  );
});

async function childrenOf(pid: number): Promise<number[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const list = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    if (list !== '') return list.split(' ').map(Number);
    if (Date.now() > deadline) throw new Error(`process ${pid} started no child`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
