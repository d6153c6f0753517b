import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Crucible, type Sandbox } from '../../src/client/index.js';
import { describePostgres, type TestDatabase } from '../support/postgres.js';
import { describeSandboxed } from '../support/requirements.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';

const LEASE_SECONDS = 2;

/** Reads a PTY until `text` shows up. */
async function screenUntil(pty: Awaited<ReturnType<Sandbox['pty']>>, text: string): Promise<string> {
  let screen = '';
  return new Promise((resolve) => {
    pty.onData((d) => {
      screen += d.toString();
      if (screen.includes(text)) resolve(screen);
    });
  });
}

describePostgres(
  'interactive sandboxes across two replicas on one PostgreSQL',
  (database: () => TestDatabase) => {
    describeSandboxed('calls on any replica reach the sandbox; a dead owner is taken over', () => {
      const servers: TestServer[] = [];
      const clients: Crucible[] = [];
      // Snapshots must be reachable from every replica: one object store (a shared directory here, S3 in a
      // real deployment).
      const objects = mkdtempSync(join(tmpdir(), 'crucible-replicas-objects-'));
      beforeAll(async () => {
        for (const name of ['replica-a', 'replica-b']) {
          const server = await startTestServer({
            args: [
              '--store',
              database().url,
              '--replica-id',
              name,
              '--lease-seconds',
              String(LEASE_SECONDS),
              '--object-store',
              objects,
            ],
          });
          servers.push(server);
          clients.push(new Crucible({ baseUrl: server.url, retry: { attempts: 1 } }));
        }
      }, 60_000);
      afterAll(async () => {
        for (const server of servers) {
          await server.stop();
          await removeDataDir(server.dataDir);
        }
        rmSync(objects, { recursive: true, force: true });
      });

      it('exec, NDJSON stream, log replay, files and a PTY on replica B reach the sandbox live on A', async () => {
        const [a, b] = clients as [Crucible, Crucible];
        const created = await a.sandboxes.create({ files: [{ path: 'from-a.txt', content: 'A' }] });
        const onB = await b.sandboxes.get(created.id);
        expect(await onB.exec('cat from-a.txt; echo $$ > pid')).toMatchObject({ exitCode: 0, stdout: 'A' });
        // The same instance, not a copy: the file B's exec wrote is there for A.
        const pidOnA = (await created.files.read('pid')).toString();
        expect((await onB.exec('cat pid')).stdout).toBe(pidOnA);
        await onB.files.write('bin/x.bin', Buffer.from([0, 255, 10]));
        expect(await created.files.read('bin/x.bin')).toEqual(Buffer.from([0, 255, 10]));
        expect((await onB.files.glob('**/*.bin')).paths).toEqual(['bin/x.bin']);
        const lines = [];
        for await (const line of onB.execStream('for i in 1 2 3; do echo $i; done')) lines.push(line);
        expect(lines.map((l) => ('data' in l ? l.data.toString() : '')).join('')).toBe('1\n2\n3\n');
        expect(lines.at(-1)).toMatchObject({ exit: { code: 0 }, status: 'finished' });
        const execId = (lines.at(-1) as { execId: string }).execId;
        const replay = [];
        for await (const line of onB.execLogs(execId, 0)) replay.push(line);
        expect(replay).toEqual(lines);
        const pty = await onB.pty({ cols: 100, rows: 30 });
        const seen = screenUntil(pty, '30 100');
        pty.write('stty size\n');
        await seen;
        pty.write('exit 5\n');
        expect(await pty.closed).toEqual({ code: 5, signal: null });
        expect(servers[1]!.log()).not.toMatch(/sandbox_unavailable/);
      }, 60_000);

      it('after the owner is killed, a sandbox with a snapshot resumes on B; one without is lost, clearly', async () => {
        const [a, b] = clients as [Crucible, Crucible];
        const kept = await a.sandboxes.create({ files: [{ path: 'kept.txt', content: 'snapshotted' }] });
        expect((await kept.hibernate()).status).toBe('hibernated');
        expect((await kept.exec('echo later > after.txt')).exitCode).toBe(0); // resumed on A, then changed
        const never = await a.sandboxes.create({});
        await servers[0]!.crash();
        // The lease is time-based: A's runs out LEASE_SECONDS after its last renewal.
        await new Promise((resolve) => setTimeout(resolve, (LEASE_SECONDS + 1) * 1000));
        const keptOnB = await b.sandboxes.get(kept.id);
        expect(await keptOnB.exec('cat kept.txt; ls')).toMatchObject({
          exitCode: 0,
          // after.txt was written after the snapshot: lost with A.
          stdout: 'snapshottedkept.txt\n',
        });
        const info = await keptOnB.refresh();
        expect(info.status).toBe('ready');
        expect(info.error).toMatch(
          /replica replica-a is gone: resumed from its snapshot of .*changes made after it were lost/,
        );
        const neverOnB = await b.sandboxes.get(never.id);
        await expect(neverOnB.exec('true')).rejects.toMatchObject({
          code: 'sandbox_terminated',
          message: expect.stringMatching(
            /lost: its replica replica-a is gone before the sandbox was ever hibernated/,
          ),
        });
        expect((await neverOnB.refresh()).status).toBe('error');
      }, 60_000);
    });
  },
);
