import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_SANDBOX_MISSING, sandboxHarness, type SandboxHarness } from './harness.js';

const ADMIN = 'admin-token-for-sandbox-tests';

describe.skipIf(LOCAL_SANDBOX_MISSING !== null)('sandbox limits, ownership and quotas (bwrap)', () => {
  let h: SandboxHarness;
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  let ada = '';
  let bob = '';

  beforeAll(async () => {
    h = await sandboxHarness({ authRequired: true, adminToken: ADMIN });
    const token = async (user: string, maxRunning?: number) =>
      (
        await h.app.inject({
          method: 'POST',
          url: '/v1/tokens',
          headers: as(ADMIN),
          payload: { user, ...(maxRunning === undefined ? {} : { maxRunning }) },
        })
      ).json<{ token: string }>().token;
    ada = await token('ada', 2);
    bob = await token('bob');
  }, 60_000);
  afterAll(() => h?.close());

  it('a terminal WebSocket without a token is refused with 401 and the server ends its connection', async () => {
    const { default: WebSocket } = await import('ws');
    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const socket = new WebSocket(`${address.replace('http', 'ws')}/v1/sandboxes/any/pty`);
    const status = await new Promise<number>((resolve, reject) => {
      socket.once('unexpected-response', (_request, response) => {
        response.resume();
        // Closed by the server, not by us: a refused upgrade left open kept server.close() waiting.
        response.socket.once('close', () => resolve(response.statusCode ?? 0));
      });
      socket.once('open', () => reject(new Error('the upgrade was accepted')));
    });
    expect(status).toBe(401);
  });

  it("another user's sandbox answers 404 everywhere; the owner's quota (maxRunning) bounds how many they hold", async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/sandboxes',
      headers: as(ada),
      payload: {},
    });
    expect(created.json()).toMatchObject({ user: 'ada', status: 'ready' });
    const id = created.json<{ id: string }>().id;
    for (const [method, url] of [
      ['GET', `/v1/sandboxes/${id}`],
      ['POST', `/v1/sandboxes/${id}/exec?wait=true`],
      ['GET', `/v1/sandboxes/${id}/files?path=x`],
      ['POST', `/v1/sandboxes/${id}/hibernate`],
      ['DELETE', `/v1/sandboxes/${id}`],
    ] as const) {
      const r = await h.app.inject({
        method,
        url,
        headers: as(bob),
        ...(method === 'POST' ? { payload: { command: 'true' } } : {}),
      });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await h.app.inject({ url: '/v1/sandboxes', headers: as(bob) })).json()).toEqual({ items: [] });
    expect(
      (await h.app.inject({ url: '/v1/sandboxes', headers: as(ADMIN) })).json<{ items: unknown[] }>().items,
    ).toHaveLength(1);
    await h.app.inject({ method: 'POST', url: '/v1/sandboxes', headers: as(ada), payload: {} });
    const third = await h.app.inject({ method: 'POST', url: '/v1/sandboxes', headers: as(ada), payload: {} });
    expect(third.statusCode).toBe(429);
    expect(third.json()).toMatchObject({ error: { code: 'quota_exceeded' } });
    expect(third.json<{ error: { message: string } }>().error.message).toContain('maxRunning');
    const keyed = { 'idempotency-key': 'create-once', ...as(ada) };
    expect(
      (await h.app.inject({ method: 'POST', url: '/v1/sandboxes', headers: keyed, payload: {} })).statusCode,
    ).toBe(429);
    await h.app.inject({ method: 'DELETE', url: `/v1/sandboxes/${id}`, headers: as(ada) });
    // Refused by the quota, the key made nothing: once there is room, the same key creates one, and only one.
    const made = await h.app.inject({ method: 'POST', url: '/v1/sandboxes', headers: keyed, payload: {} });
    const again = await h.app.inject({ method: 'POST', url: '/v1/sandboxes', headers: keyed, payload: {} });
    expect(made.statusCode).toBe(201);
    expect(again.json<{ id: string }>().id).toBe(made.json<{ id: string }>().id);
    const other = await h.app.inject({
      method: 'POST',
      url: '/v1/sandboxes',
      headers: keyed,
      payload: { memoryMb: 128 },
    });
    expect(other.json()).toMatchObject({ error: { code: 'idempotency_conflict' } });
    await h.app.inject({
      method: 'DELETE',
      url: `/v1/sandboxes/${made.json<{ id: string }>().id}`,
      headers: as(ada),
    });
    expect(
      (await h.app.inject({ method: 'POST', url: '/v1/sandboxes', headers: as(ada), payload: {} }))
        .statusCode,
    ).toBe(201);
  });

  it('an exec past the sandbox memory is OOM-killed with that verdict; the sandbox lives on; the workspace is capped', async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/sandboxes',
      headers: as(bob),
      payload: { memoryMb: 64, workspaceMb: 16 },
    });
    const id = created.json<{ id: string }>().id;
    const exec = (command: string) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/sandboxes/${id}/exec?wait=true`,
        headers: as(bob),
        payload: { command },
      });
    const bomb = await h.app.inject({
      method: 'POST',
      url: `/v1/sandboxes/${id}/exec?wait=true`,
      headers: as(bob),
      payload: { command: ['python3', '-c', 'x = bytearray(200 << 20); print(len(x))'] },
    });
    expect(bomb.json()).toMatchObject({
      exitCode: null,
      signal: 'SIGKILL',
      oomKilled: true,
      timedOut: false,
      stdout: '',
    });
    // Behind a shell the kill shows as exit 137; the verdict is the same.
    expect((await exec('python3 -c "x = bytearray(200 << 20)"')).json()).toMatchObject({
      exitCode: 137,
      oomKilled: true,
    });
    expect((await exec('echo alive')).json()).toMatchObject({
      exitCode: 0,
      stdout: 'alive\n',
      oomKilled: false,
    });
    const fill = await exec('head -c 32000000 /dev/zero > big; echo $?; rm big');
    expect(fill.json<{ stderr: string }>().stderr).toContain('No space left on device');
    const put = await h.app.inject({
      method: 'PUT',
      url: `/v1/sandboxes/${id}/files?path=big`,
      headers: { ...as(bob), 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(15 * 1024 * 1024, 1),
    });
    expect((await exec('true')).statusCode).toBe(200);
    const second = await h.app.inject({
      method: 'PUT',
      url: `/v1/sandboxes/${id}/files?path=big2`,
      headers: { ...as(bob), 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(15 * 1024 * 1024, 1),
    });
    expect([put.statusCode, second.statusCode]).toContain(507);
    expect([put, second].find((r) => r.statusCode === 507)?.json()).toMatchObject({
      error: { code: 'workspace_full' },
    });
  });
});
