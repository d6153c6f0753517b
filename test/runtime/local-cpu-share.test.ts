import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { describeSandboxed } from '../support/requirements.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const CPU_PARENT = '/sys/fs/cgroup/cpu/crucible';

/** The cpu cgroups of this process's runs (named `<server pid>-<n>`), with the pids in each. */
function ownCpuGroups(): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const name of readdirSync(CPU_PARENT)) {
    if (!name.startsWith(`${process.pid}-`)) continue;
    const procs = readFileSync(join(CPU_PARENT, name, 'cgroup.procs'), 'utf8');
    groups.set(name, procs.split('\n').filter(Boolean).map(Number));
  }
  return groups;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

describeSandboxed('sandboxes share one cpu cgroup under the control plane (bwrap, cgroup v1)', () => {
  let p: InProcess;

  beforeAll(async () => {
    const sandbox = await createSandbox({ isolation: 'bwrap', stateDir: `/tmp/crucible-cpu-${process.pid}` });
    p = await inProcess({ runtime: createLocalRuntime(sandbox) });
  });
  afterAll(() => p?.close());

  test.skipIf(!existsSync(CPU_PARENT.replace('/crucible', '')))(
    "a running program's processes sit in its own cpu cgroup under crucible/, emptied when it ends",
    async () => {
      const code = 'import time\nprint("up", flush=True)\ntime.sleep(30)';
      const { evaluation } = await p.service.submit({ language: 'python', code });
      const logs = p.service.followLogs(evaluation.id, { follow: true });
      for await (const chunk of logs) if (chunk.data.toString().includes('up')) break;

      // The warm pool's idle sandboxes have groups of their own; the run's is the one holding python.
      const groups = [...ownCpuGroups()];
      const running = groups.filter(([, pids]) => pids.some((pid) => commandOf(pid).startsWith('python')));
      expect(running).toHaveLength(1);
      const [[name, pids]] = running as [[string, number[]]];
      for (const pid of pids) {
        const membership = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
        expect(membership).toMatch(new RegExp(`:cpu:/crucible/${name}\\n`));
      }
      // The parent carries the shares all sandboxes have together: one session's worth.
      expect(readFileSync(join(CPU_PARENT, 'cpu.shares'), 'utf8').trim()).toBe('1024');

      await p.service.cancel(evaluation.id);
      const done = await p.service.wait(evaluation.id, 30_000);
      expect(done.status).toBe('cancelled');
      // Killed before the status is reported; the empty directory itself is removed just after.
      const left = existsSync(join(CPU_PARENT, name))
        ? readFileSync(join(CPU_PARENT, name, 'cgroup.procs'), 'utf8').trim()
        : '';
      expect(left).toBe('');
    },
  );
});
