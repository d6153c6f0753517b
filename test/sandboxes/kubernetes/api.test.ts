import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesSandboxRuntime } from '../../../src/runtime/kubernetes/sandboxes/index.js';
import { createSqliteStore } from '../../../src/store/sqlite/index.js';
import { startFakeCluster, type FakeCluster } from '../../../testkit/fake-kube/index.js';
import { ndjson, openPty, sandboxHarness, type SandboxHarness } from '../harness.js';
import { NAMESPACE, podsGone, podsOf, skipReason } from './harness.js';

/** A listing with a digest of every file: what "identical" means across hibernation. */
const FINGERPRINT =
  'cd /workspace && find . -printf "%p %y %m %l\\n" | sort && find . -type f -exec sha256sum {} + | sort';

let cluster: FakeCluster;
let h: SandboxHarness;
let base: string;
let id: string;

beforeAll(async () => {
  if (skipReason) return;
  cluster = await startFakeCluster();
  const runtime = await createKubernetesSandboxRuntime({
    kubeconfigPath: cluster.kubeconfigPath,
    namespace: NAMESPACE,
    backoffInitialMs: 20,
    backoffMaxMs: 300,
    warn: () => undefined,
  });
  h = await sandboxHarness({ store: createSqliteStore({ path: ':memory:' }), runtime });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await h?.close();
  await cluster?.close();
});

const exec = (body: object, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: `/v1/sandboxes/${id}/exec?wait=true`, payload: body, headers });

describe.skipIf(skipReason !== null)('the sandbox API on the Kubernetes backend (fake API server)', () => {
  it('creates a sandbox as a pod and runs execs in it', async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/sandboxes',
      payload: { env: { WHO: 'agent' }, files: [{ path: 'notes/todo.txt', content: 'write tests\n' }] },
    });
    expect(created.statusCode).toBe(201);
    id = created.json<{ id: string }>().id;
    expect(podsOf(cluster, id)).toHaveLength(1);
    expect((await exec({ command: 'echo $WHO; cat notes/todo.txt; id -u' })).json()).toMatchObject({
      exitCode: 0,
      stdout: 'agent\nwrite tests\n65534\n',
    });
  });

  it('replays a streamed exec from after=SEQ and runs a retried Idempotency-Key once', async () => {
    const streamed = await h.app.inject({
      method: 'POST',
      url: `/v1/sandboxes/${id}/exec`,
      payload: { command: 'for i in 1 2 3; do echo out$i; echo err$i >&2; done' },
    });
    const lines = ndjson(streamed.body);
    const execId = String(streamed.headers['crucible-exec-id']);
    const replay = await h.app.inject({ url: `/v1/sandboxes/${id}/execs/${execId}/logs?after=2` });
    expect(ndjson(replay.body)).toEqual(lines.slice(2));
    const key = { 'idempotency-key': 'count-once' };
    const first = await exec({ command: 'echo x >> counter; wc -l < counter' }, key);
    const again = await exec({ command: 'echo x >> counter; wc -l < counter' }, key);
    expect(again.json()).toMatchObject({ stdout: first.json<{ stdout: string }>().stdout });
    expect((await exec({ command: 'wc -l < counter' })).json()).toMatchObject({ stdout: '1\n' });
  });

  it('serves files through the agent and refuses traversal', async () => {
    const put = await h.app.inject({
      method: 'PUT',
      url: `/v1/sandboxes/${id}/files?path=src/main.py`,
      payload: 'print("hi")\n',
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.statusCode).toBeLessThan(300);
    expect((await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=src/main.py` })).body).toBe(
      'print("hi")\n',
    );
    const escape = await h.app.inject({ url: `/v1/sandboxes/${id}/files?path=../../etc/passwd` });
    expect(escape.statusCode).toBe(400);
  });

  it('serves a PTY over WebSocket through the pod: typing, resize, Ctrl-C', async () => {
    const { socket, screen, type, until, close } = await openPty(base, id, '?cols=80&rows=24');
    type('echo $((40+2))\n');
    await until('42');
    socket.send(JSON.stringify({ resize: { cols: 100, rows: 30 } }));
    type('stty size\n');
    await until('30 100');
    type(
      `python3 -c 'import time; print("fore" + "ground", flush=True); time.sleep(60)' && echo not-interrupted\n`,
    );
    await until('fore' + 'ground');
    type('\x03');
    type('echo back-$((2+2))\n');
    await until('back-4');
    expect(screen()).not.toMatch(/\nnot-interrupted/);
    await close();
  });

  it('hibernates (the pod is deleted) and resumes into a new pod with the workspace identical', async () => {
    await exec({
      command: 'mkdir -p keep/empty && echo s > keep/f && chmod 600 keep/f && ln -s f keep/link',
    });
    const before = (await exec({ command: FINGERPRINT })).json<{ stdout: string }>().stdout;
    const [podBefore] = podsOf(cluster, id);
    const hibernated = await h.app.inject({ method: 'POST', url: `/v1/sandboxes/${id}/hibernate` });
    expect(hibernated.json()).toMatchObject({ status: 'hibernated' });
    await podsGone(cluster, id);
    const after = await exec({ command: FINGERPRINT });
    expect(after.json<{ stdout: string }>().stdout).toBe(before);
    const [podAfter] = podsOf(cluster, id);
    expect(podAfter?.metadata?.name).not.toBe(podBefore?.metadata?.name);
    await h.app.inject({ method: 'DELETE', url: `/v1/sandboxes/${id}` });
    await podsGone(cluster, id);
  });
});
