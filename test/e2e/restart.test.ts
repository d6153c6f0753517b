import { execFileSync } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';

const servers: TestServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

function sandboxProcessesMatching(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describeSandboxed('restart recovery', () => {
  it('after kill -9, queued evaluations still run, running ones end as error, none run twice', async () => {
    const first = await startTestServer({ args: ['--concurrency', '1'] });
    servers.push(first);
    // A unique sleep duration names the sandboxed process on the host's process list.
    const marker = `sleep 600.${process.pid}${Date.now() % 1000}`;
    const running = await first.client.submit({ language: 'bash', code: `echo started; ${marker}` });
    for await (const line of first.client.logs(running.id, true)) {
      expect(line.data).toBe('started\n');
      break;
    }
    const done = await first.client.submit({ language: 'bash', code: 'echo quick' });
    const queued = await Promise.all(
      [1, 2, 3].map(
        async (i) => (await first.client.submit({ language: 'bash', code: `echo queued-${i}` })).id,
      ),
    );
    expect(sandboxProcessesMatching(marker).length).toBeGreaterThan(0);
    await first.crash();

    const second = await startTestServer({ dataDir: first.dataDir, args: ['--concurrency', '1'] });
    servers.push(second);
    const lost = await second.client.get(running.id, 30);
    expect(lost.status).toBe('error');
    expect(lost.result?.reason).toBe('lost_on_restart');
    expect(lost.result?.stdout).toBe('started\n');
    for (const [i, id] of queued.entries()) {
      const e = await second.client.get(id, 30);
      expect(e.status).toBe('succeeded');
      expect(e.result?.stdout).toBe(`queued-${i + 1}\n`);
    }
    const quick = await second.client.get(done.id, 30);
    expect(quick.status).toBe('succeeded');
    // Each evaluation walked the lifecycle once: exactly one terminal transition each.
    for (const id of [running.id, done.id, ...queued]) {
      const transitions = (await (await fetch(`${second.url}/v1/evaluations/${id}/transitions`)).json()) as {
        items: { to: string }[];
      };
      const terminal = transitions.items.filter((t) => !['queued', 'starting', 'running'].includes(t.to));
      expect(terminal).toHaveLength(1);
    }
    expect(sandboxProcessesMatching(marker)).toEqual([]);
    await second.stop();
    await removeDataDir(first.dataDir);
  });
});

describeSandboxed('graceful shutdown', () => {
  it('ends running evaluations as error/infrastructure, not as the program’s failure, and keeps queued ones', async () => {
    const first = await startTestServer({ args: ['--concurrency', '1'] });
    servers.push(first);
    const running = await first.client.submit({ language: 'bash', code: 'echo up; sleep 60' });
    for await (const line of first.client.logs(running.id, true)) {
      expect(line.data).toBe('up\n');
      break;
    }
    const queued = await first.client.submit({ language: 'bash', code: 'echo later' });
    await first.stop();
    expect(first.log()).toContain('received SIGTERM, shutting down');

    const second = await startTestServer({ dataDir: first.dataDir, args: ['--concurrency', '1'] });
    servers.push(second);
    const stopped = await second.client.get(running.id);
    expect(stopped.status).toBe('error');
    expect(stopped.result?.reason).toBe('infrastructure');
    expect(stopped.result?.message).toMatch(/server shut down/);
    expect(stopped.result?.stdout).toBe('up\n');
    expect((await second.client.get(queued.id, 30)).result?.stdout).toBe('later\n');
    await second.stop();
    await removeDataDir(first.dataDir);
  });
});
