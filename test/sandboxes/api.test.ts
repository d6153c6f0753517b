import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { describePostgres } from '../support/postgres.js';
import { LOCAL_SANDBOX_MISSING, ndjson, openPty, sandboxHarness, type SandboxHarness } from './harness.js';

/** A listing with a digest of every file: what "identical" means across hibernation. */
const FINGERPRINT =
  'cd /workspace && find . -path ./proc -prune -o -printf "%p %y %m %l\\n" | sort && find . -type f -exec sha256sum {} + | sort';

function describeSandboxApi(name: string, openStore: () => EvaluationStore): void {
  describe.skipIf(LOCAL_SANDBOX_MISSING !== null)(`sandbox API on ${name} (bwrap)`, () => {
    let h: SandboxHarness;
    let base: string;
    let id: string;
    const exec = async (body: object, headers: Record<string, string> = {}) =>
      h.app.inject({ method: 'POST', url: `/v1/sandboxes/${id}/exec?wait=true`, payload: body, headers });

    beforeAll(async () => {
      h = await sandboxHarness({ store: openStore() });
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    }, 60_000);
    afterAll(() => h?.close());

    it('creates a ready sandbox with its env and files', async () => {
      const created = await h.app.inject({
        method: 'POST',
        url: '/v1/sandboxes',
        payload: {
          env: { WHO: 'agent' },
          files: [{ path: 'notes/todo.txt', content: 'write tests\n' }],
          labels: { team: 'a' },
        },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({
        status: 'ready',
        language: 'python',
        envKeys: ['WHO'],
        labels: { team: 'a' },
      });
      id = created.json<{ id: string }>().id;
      const r = await exec({ command: 'echo $WHO; cat notes/todo.txt; python3 -c "print(6*7)"' });
      expect(r.json()).toMatchObject({
        exitCode: 0,
        stdout: 'agent\nwrite tests\n42\n',
        stderr: '',
        timedOut: false,
      });
      expect(r.json<{ durationMs: number }>().durationMs).toBeGreaterThan(0);
      const bad = await h.app.inject({ method: 'POST', url: '/v1/sandboxes', payload: { memoryMb: 1 } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error: { code: 'invalid_request', field: 'memoryMb' } });
    });

    it('streams an exec as NDJSON and replays it from after=SEQ, also once the sandbox is gone', async () => {
      const streamed = await h.app.inject({
        method: 'POST',
        url: `/v1/sandboxes/${id}/exec`,
        payload: {
          command: [
            '/bin/sh',
            '-c',
            'for i in 1 2 3; do echo out$i; sleep 0.05; echo err$i >&2; done; exit 3',
          ],
        },
      });
      const lines = ndjson(streamed.body);
      const execId = String(streamed.headers['crucible-exec-id']);
      expect(lines.at(-1)).toMatchObject({
        exit: { code: 3, signal: null, timedOut: false },
        status: 'finished',
        execId,
      });
      const output = lines.slice(0, -1);
      expect(output.map((l) => l['seq'])).toEqual(output.map((_, i) => i + 1));
      expect(
        output
          .filter((l) => l['stream'] === 'stdout')
          .map((l) => l['data'])
          .join(''),
      ).toBe('out1\nout2\nout3\n');
      const replay = await h.app.inject({ url: `/v1/sandboxes/${id}/execs/${execId}/logs?after=2` });
      expect(ndjson(replay.body)).toEqual(lines.slice(2));
    });

    it('keeps capturing an exec whose client stops reading', async () => {
      // 600 KiB of output to a client that never reads: far beyond the socket buffers.
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(
          `${base}/v1/sandboxes/${id}/exec`,
          { method: 'POST', headers: { 'content-type': 'application/json' } },
          resolve,
        );
        req.on('error', reject);
        req.end(JSON.stringify({ command: 'head -c 614400 /dev/zero | tr "\\0" x; echo; echo done >&2' }));
      });
      response.pause();
      const execId = String(response.headers['crucible-exec-id']);
      const handle = await h.sandboxes.execHandle(
        { user: null, admin: true, scope: 't', token: null },
        id,
        execId,
      );
      const end = await handle.capture?.done;
      expect(end).toMatchObject({ status: 'finished', exit: { exitCode: 0 } });
      response.destroy();
      const replay = ndjson((await h.app.inject({ url: `/v1/sandboxes/${id}/execs/${execId}/logs` })).body);
      const stdout = replay
        .filter((l) => l['stream'] === 'stdout')
        .map((l) => String(l['data']))
        .join('');
      expect(stdout).toBe(`${'x'.repeat(614400)}\n`);
      expect(replay.at(-1)).toMatchObject({ exit: { code: 0 } });
    });

    it('runs an exec retried with the same Idempotency-Key once', async () => {
      const body = { command: 'echo ran >> ran.txt; wc -l < ran.txt' };
      const first = await exec(body, { 'idempotency-key': 'exec-once' });
      const again = await exec(body, { 'idempotency-key': 'exec-once' });
      expect(again.json()).toEqual(first.json());
      expect((await exec({ command: 'cat ran.txt' })).json()).toMatchObject({ stdout: 'ran\n' });
      const conflict = await exec({ command: 'true' }, { 'idempotency-key': 'exec-once' });
      expect(conflict.statusCode).toBe(409);
      expect(conflict.json()).toMatchObject({ error: { code: 'idempotency_conflict' } });
    });

    it('reads, writes, lists, globs, greps and deletes files; refuses every path leaving the workspace', async () => {
      const put = await h.app.inject({
        method: 'PUT',
        url: `/v1/sandboxes/${id}/files?path=src/app/main.py`,
        payload: Buffer.from('# TODO: more\nprint("hi")\n'),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(put.statusCode).toBe(204);
      const json = await h.app.inject({
        method: 'PUT',
        url: `/v1/sandboxes/${id}/files?path=data.json`,
        payload: '{"a": 1}',
        headers: { 'content-type': 'application/json' },
      });
      expect(json.statusCode).toBe(204);
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=data.json` })).body).toBe('{"a": 1}');
      const read = await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=/workspace/src/app/main.py` });
      expect(read.headers['content-type']).toBe('application/octet-stream');
      expect(read.body).toBe('# TODO: more\nprint("hi")\n');
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=src&list=true` })).json()).toEqual({
        entries: [{ name: 'app', type: 'dir', size: 0, mode: 0o755 }],
      });
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=&glob=**/*.py` })).json()).toEqual({
        paths: ['src/app/main.py'],
        truncated: false,
      });
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=src&grep=TODO` })).json()).toEqual({
        matches: [{ path: 'src/app/main.py', line: 1, text: '# TODO: more' }],
        truncated: false,
      });
      const host = join('/tmp', `crucible-escape-${process.pid}`);
      await exec({ command: 'ln -s /tmp tmp-link; ln -s ../../../.. up; mkfifo pipe' });
      for (const path of ['../x', `../../..${host}`, host, 'tmp-link/x', 'up/etc/passwd', '/etc/passwd']) {
        for (const method of ['GET', 'PUT', 'DELETE'] as const) {
          const r = await h.app.inject({
            method,
            url: `/v1/sandboxes/${id}/files?path=${encodeURIComponent(path)}`,
            payload: method === 'PUT' ? 'x' : undefined,
            headers: { 'content-type': 'text/plain' },
          });
          expect(r.statusCode, `${method} ${path}`).toBe(400);
          expect(r.json(), `${method} ${path}`).toMatchObject({
            error: { code: 'path_outside_workspace', field: 'path' },
          });
        }
      }
      expect(existsSync(host)).toBe(false);
      const fifo = await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=pipe` });
      expect(fifo.json()).toMatchObject({ error: { code: 'not_a_regular_file' } });
      const big = await h.app.inject({
        method: 'PUT',
        url: `/v1/sandboxes/${id}/files?path=big`,
        payload: Buffer.alloc(17 * 1024 * 1024),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(big.statusCode).toBe(400);
      expect(big.json()).toMatchObject({ error: { code: 'payload_too_large' } });
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=nope` })).statusCode).toBe(404);
      expect(
        (await h.app.inject({ method: 'DELETE', url: `/v1/sandboxes/${id}/files?path=src&recursive=true` }))
          .statusCode,
      ).toBe(204);
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=src/app/main.py` })).statusCode).toBe(
        404,
      );
    });

    it('serves a PTY over WebSocket: typing, resize, Ctrl-C, two viewers, reconnect resumes', async () => {
      const a = await openPty(base, id, '?cols=80&rows=24');
      a.type('echo $((40+2))\n');
      await a.until('42');
      a.socket.send(JSON.stringify({ resize: { cols: 100, rows: 30 } }));
      a.type('stty size\n');
      await a.until('30 100');
      const b = await openPty(base, id);
      await b.until('30 100'); // the scroll-back replayed to the second viewer
      b.type(
        `python3 -c 'import time; print("fore" + "ground", flush=True); time.sleep(60)' && echo not-interrupted\n`,
      );
      // The program says when it runs (so it is the terminal's foreground process group) before Ctrl-C.
      await a.until('fore' + 'ground');
      a.type('\x03');
      a.type('echo back-$((2+2))\n');
      await b.until('back-4');
      expect(b.screen()).not.toMatch(/\nnot-interrupted/);
      await a.close();
      await b.close();
      const again = await openPty(base, id);
      await again.until('back-4');
      again.type('export MARK=kept; echo $MARK\n');
      await again.until('kept');
      // The shell exits: the server sends its exit and closes the socket (bash writes its history first).
      const closed = new Promise<number>((resolve) => again.socket.once('close', resolve));
      again.type('exit 5\n');
      expect(await closed).toBe(1000);
    });

    it('hibernates to the object store and resumes on the next call with the workspace identical', async () => {
      await exec({
        command:
          'rm pipe && mkdir -p keep/empty && echo secret > keep/f && chmod 600 keep/f && ln -s f keep/link && head -c 200000 /dev/urandom > keep/rand',
      });
      const before = (await exec({ command: FINGERPRINT })).json<{ stdout: string }>().stdout;
      const hibernated = await h.app.inject({ method: 'POST', url: `/v1/sandboxes/${id}/hibernate` });
      expect(hibernated.json()).toMatchObject({ status: 'hibernated' });
      const tar = readFileSync(join(h.objectsDir, 'sandboxes', id, 'workspace.tar'));
      expect(hibernated.json<{ snapshotBytes: number }>().snapshotBytes).toBe(tar.length);
      const after = await exec({ command: FINGERPRINT });
      expect(after.json<{ stdout: string }>().stdout).toBe(before);
      expect((await h.app.inject({ url: `/v1/sandboxes/${id}` })).json()).toMatchObject({ status: 'ready' });
    });

    it('terminates: the snapshot goes, the exec logs stay, further calls answer 409', async () => {
      const last = await h.app.inject({
        method: 'POST',
        url: `/v1/sandboxes/${id}/exec`,
        payload: { command: 'echo last words' },
      });
      const execId = String(last.headers['crucible-exec-id']);
      await h.app.inject({ method: 'POST', url: `/v1/sandboxes/${id}/hibernate` });
      const deleted = await h.app.inject({ method: 'DELETE', url: `/v1/sandboxes/${id}` });
      expect(deleted.json()).toMatchObject({ status: 'terminated' });
      expect(existsSync(join(h.objectsDir, 'sandboxes', id, 'workspace.tar'))).toBe(false);
      const replay = ndjson((await h.app.inject({ url: `/v1/sandboxes/${id}/execs/${execId}/logs` })).body);
      expect(replay[0]).toMatchObject({ seq: 1, stream: 'stdout', data: 'last words\n' });
      const refused = await exec({ command: 'true' });
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({ error: { code: 'sandbox_terminated' } });
      expect(
        (await h.app.inject({ url: '/v1/sandboxes?status=terminated' }))
          .json<{ items: { id: string }[] }>()
          .items.map((s) => s.id),
      ).toContain(id);
    });
  });
}

describeSandboxApi('SQLite', () => createSqliteStore({ path: ':memory:' }));
describePostgres('sandbox API on PostgreSQL', (database) => {
  describeSandboxApi('PostgreSQL', () =>
    createPostgresStore({ url: database().url.split('?')[0] as string, schema: database().schema }),
  );
});
