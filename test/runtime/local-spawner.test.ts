import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/runtime/local/index.js';
import { run } from './sandbox-helpers.js';
import { hostProcesses } from './sandbox-suite.js';
import { DEFAULT_LIMITS } from '../../src/core/index.js';

const root = process.getuid?.() === 0;
const STATE = `/tmp/crucible-spawner-test-${process.pid}`;

/** The bwrap sandbox launches through a helper process; losing it must not lose or hang a run. */
describe.skipIf(!root)('local runtime: the spawner helper (needs root for bwrap)', () => {
  let sandbox: Sandbox;
  const warnings: string[] = [];

  // The socket directory a crashed server left: its owner pid is gone.
  let staleDir = '';

  beforeAll(async () => {
    const dead = spawn('/bin/true');
    await new Promise((resolve) => dead.on('exit', resolve));
    staleDir = path.join(os.tmpdir(), `crucible-spawner-${dead.pid}-stale00`);
    mkdirSync(staleDir);
    sandbox = await createSandbox({ isolation: 'bwrap', stateDir: STATE, warn: (m) => warnings.push(m) });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  test("a crashed server's socket directory is removed; the live one is private to root", () => {
    expect(existsSync(staleDir)).toBe(false);
    const own = readdirSync(os.tmpdir()).filter((e) => e.startsWith(`crucible-spawner-${process.pid}-`));
    expect(own.length).toBe(1);
    expect(statSync(path.join(os.tmpdir(), own[0] ?? '')).mode & 0o777).toBe(0o700);
  });

  test('runs are children of the helper, not of the server', async () => {
    const marker = `${Math.floor(Math.random() * 1e9)}`;
    const handle = await sandbox.launch(
      {
        argv: ['bash', '/code/main.sh'],
        files: [{ path: '/code/main.sh', content: `echo started; exec sleep 30.${marker}` }],
        stdin: '',
        limits: DEFAULT_LIMITS,
      },
      () => undefined,
    );
    const [sleeper] = await waitFor(() => hostProcesses(`30.${marker}`));
    expect(sleeper?.uid).toBe(65534);
    const chain = parentsOf(sleeper?.pid ?? 0);
    const helper = hostProcesses('crucible-spawner-').find((p) => chain.includes(p.pid));
    // sleep → bwrap init → bwrap → the helper → this process: the server forks nothing per run.
    expect(helper).toBeDefined();
    expect(chain.indexOf(helper?.pid ?? 0)).toBe(chain.indexOf(process.pid) - 1);
    await handle.kill();
  });

  test('delivers every file of a run, small ones through pipes and large ones through sockets', async () => {
    const big = 'x'.repeat(200_000);
    const out: Buffer[] = [];
    const handle = await sandbox.launch(
      {
        argv: ['python3', '-u', '/code/main.py'],
        files: [
          { path: '/code/data.txt', content: big },
          { path: '/code/main.py', content: 'print(len(open("/code/data.txt").read()))' },
        ],
        stdin: '',
        limits: DEFAULT_LIMITS,
      },
      (_stream, data) => out.push(data),
    );
    expect((await handle.exited).exitCode).toBe(0);
    expect(Buffer.concat(out).toString()).toBe('200000\n');
  });

  test('when the helper dies, its running sandbox ends and later runs still work', async () => {
    const marker = `${Math.floor(Math.random() * 1e9)}`;
    const handle = await sandbox.launch(
      {
        argv: ['bash', '/code/main.sh'],
        files: [{ path: '/code/main.sh', content: `exec sleep 30.${marker}` }],
        stdin: '',
        limits: DEFAULT_LIMITS,
      },
      () => undefined,
    );
    await waitFor(() => hostProcesses(`30.${marker}`));
    const helpers = hostProcesses('crucible-spawner-').filter((p) => parentsOf(p.pid).includes(process.pid));
    expect(helpers.length).toBe(1);
    process.kill(helpers[0]?.pid ?? 0, 'SIGKILL');
    const exit = await handle.exited;
    expect(exit.exitCode === 0).toBe(false);
    expect(hostProcesses(`30.${marker}`)).toEqual([]);
    expect(warnings.join('\n')).toMatch(/spawner exited/);
    const after = await run(sandbox, 'python', 'print(6 * 7)');
    expect(after.stdout).toBe('42\n');
  });
});

function parentsOf(pid: number): number[] {
  const parents: number[] = [];
  for (let current = pid; current > 1;) {
    const stat = readFileSync(`/proc/${current}/stat`, 'utf8');
    current = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.push(current);
  }
  return parents;
}

async function waitFor<T>(probe: () => T[]): Promise<T[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = probe();
    if (found.length > 0) return found;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
