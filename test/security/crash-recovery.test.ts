import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import type { EvaluationView } from '../../src/api/views.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';
import { TERMINAL, eventually, hostProcesses, transitions, type Transition } from './support.js';

const servers: TestServer[] = [];
const dataDirs: string[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (const d of dataDirs.splice(0)) await removeDataDir(d);
});

async function start(isolation: 'bwrap' | 'gvisor', dataDir?: string): Promise<TestServer> {
  const s = await startTestServer({
    args: ['--concurrency', '2', '--sandbox', isolation],
    ...(dataDir ? { dataDir } : {}),
  });
  servers.push(s);
  if (!dataDir) dataDirs.push(s.dataDir);
  return s;
}

/** Waits (bounded) until the evaluation has printed its first output, i.e. its program really runs. */
async function waitStarted(server: TestServer, id: string): Promise<void> {
  for await (const line of server.client.logs(id, true)) {
    expect(line.data).toBe('started\n');
    return;
  }
  throw new Error(`evaluation ${id} ended without output`);
}

function staleCgroups(pid: number): string[] {
  return ['pids', 'memory', 'cpuacct'].flatMap((c) => {
    const dir = `/sys/fs/cgroup/${c}/crucible`;
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((name) => name.startsWith(`${pid}-`));
  });
}

/** Checks the whole recovered set: terminal once, never run twice, finished work untouched. */
async function expectExactlyOnce(
  server: TestServer,
  ids: readonly string[],
  before: ReadonlyMap<string, Transition[]>,
): Promise<Map<string, EvaluationView>> {
  const results = new Map<string, EvaluationView>();
  for (const id of ids) {
    const e = await server.client.get(id, 60);
    expect(TERMINAL, id).toContain(e.status);
    results.set(id, e);
    const history = await transitions(server, id);
    expect(
      history.filter((t) => TERMINAL.includes(t.to)),
      id,
    ).toHaveLength(1);
    expect(history.filter((t) => t.to === 'running').length, id).toBeLessThanOrEqual(1);
    const earlier = before.get(id);
    if (earlier) expect(history, `finished ${id} was touched`).toEqual(earlier);
  }
  return results;
}

describeSandboxed('crash recovery', () => {
  test('bwrap: kill -9 with runs queued and running; each ends exactly once, no orphan, finished work not rerun', async () => {
    const first = await start('bwrap');
    const crashedPid = first.process.pid!;
    const marker = `${process.pid}${randomBytes(3).readUIntBE(0, 3)}`;

    const finished: string[] = [];
    for (let i = 0; i < 3; i++) {
      const e = await first.client.submit({ language: 'bash', code: `echo done-${i}` });
      finished.push(e.id);
    }
    const before = new Map<string, Transition[]>();
    for (const id of finished) {
      expect((await first.client.get(id, 30)).status).toBe('succeeded');
      before.set(id, await transitions(first, id));
    }
    const running: string[] = [];
    for (let i = 0; i < 2; i++) {
      // A detached grandchild too: it must not survive the crash either.
      const code = `echo started\nsetsid sleep 700.${marker} </dev/null >/dev/null 2>&1 &\nexec sleep 600.${marker}`;
      running.push((await first.client.submit({ language: 'bash', code })).id);
    }
    for (const id of running) await waitStarted(first, id);
    const queued: string[] = [];
    for (let i = 0; i < 10; i++) {
      queued.push((await first.client.submit({ language: 'bash', code: `echo queued-${i}` })).id);
    }
    // Two sleeps per run (the exec'd one and the detached one, which may still be starting).
    expect(await eventually(() => hostProcesses(`.${marker}`).length >= 4)).toBe(true);

    await first.crash();
    // bwrap dies with its parent and takes its PID namespace along: nothing waits for the next server.
    expect(await eventually(() => hostProcesses(`.${marker}`).length === 0)).toBe(true);

    const second = await start('bwrap', first.dataDir);
    const results = await expectExactlyOnce(second, [...finished, ...running, ...queued], before);
    for (const id of running) {
      expect(results.get(id)).toMatchObject({ status: 'error', result: { reason: 'lost_on_restart' } });
    }
    for (const [i, id] of queued.entries()) {
      expect(results.get(id)).toMatchObject({ status: 'succeeded', result: { stdout: `queued-${i}\n` } });
    }
    for (const [i, id] of finished.entries()) {
      expect(results.get(id)?.result?.stdout).toBe(`done-${i}\n`);
    }
    expect(hostProcesses(`.${marker}`)).toEqual([]);
    expect(staleCgroups(crashedPid)).toEqual([]);

    // Once more: a crash after everything finished changes nothing on the next start.
    const settled = new Map<string, Transition[]>();
    for (const id of [...finished, ...running, ...queued]) settled.set(id, await transitions(second, id));
    await second.crash();
    const third = await start('bwrap', first.dataDir);
    await expectExactlyOnce(third, [...finished, ...running, ...queued], settled);
  });

  test('gvisor: a crashed server leaves no sandbox running, and recovery is exactly once', async () => {
    const first = await start('gvisor');
    const gvisorDir = path.join(first.dataDir, 'sandbox', 'gvisor');
    const sandboxes = () => hostProcesses(gvisorDir).filter((p) => !/ (delete|kill|list) /.test(p.cmdline));
    const running: string[] = [];
    for (let i = 0; i < 2; i++) {
      running.push(
        (await first.client.submit({ language: 'bash', code: 'echo started\nwhile :; do :; done' })).id,
      );
    }
    for (const id of running) await waitStarted(first, id);
    const queued: string[] = [];
    for (let i = 0; i < 3; i++) {
      queued.push((await first.client.submit({ language: 'bash', code: `echo queued-${i}` })).id);
    }
    expect(sandboxes().length).toBeGreaterThan(0);

    await first.crash();
    // `runsc run` gets SIGKILL with the server (PDEATHSIG) and the --attached sandbox follows it; before that
    // fix these busy loops spun on, with no timeout, until some later server start cleaned them up.
    expect(await eventually(() => sandboxes().length === 0)).toBe(true);

    const second = await start('gvisor', first.dataDir);
    const results = await expectExactlyOnce(second, [...running, ...queued], new Map());
    for (const id of running) expect(results.get(id)?.result?.reason).toBe('lost_on_restart');
    for (const [i, id] of queued.entries()) {
      expect(results.get(id)).toMatchObject({ status: 'succeeded' });
      expect(results.get(id)?.result?.stdout.trim()).toBe(`queued-${i}`);
    }
    expect(sandboxes()).toEqual([]);
  });
});
