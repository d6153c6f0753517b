import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { readSse } from '../support/sse.js';

const ADMIN = 'bootstrap-admin-token-for-the-auth-tests';

/**
 * How each route of the real app is guarded. The first test fails when the app has a route that is not
 * here (or this lists one the app does not have): a new route must say who may call it, and the tests below
 * then check that it does as it says.
 *
 * - `public`: answers without a token;
 * - `admin`: 401 without a token, 403 with a user's;
 * - `own`: about one object (`:id`): 401 without a token, 404 for another user's object, works for its owner
 *   and for admins;
 * - `scoped`: 401 without a token; what it shows is scoped in the service, or holds nothing of any user's
 *   (the reason says which; each scoped one is tested on its own below).
 */
type Guard =
  | { readonly kind: 'public' }
  | { readonly kind: 'admin' }
  | { readonly kind: 'own'; readonly object: 'evaluation' | 'batch' }
  | { readonly kind: 'scoped'; readonly why: string };

const ROUTES: Readonly<Record<string, Guard>> = {
  'GET /healthz': { kind: 'public' },
  'GET /readyz': { kind: 'public' },
  'GET /metrics': { kind: 'public' },
  'GET /v1/version': { kind: 'public' },
  'GET /openapi.json': { kind: 'public' },
  'POST /v1/tokens': { kind: 'admin' },
  'GET /v1/tokens': { kind: 'admin' },
  'DELETE /v1/tokens/:id': { kind: 'admin' },
  'POST /v1/projects': { kind: 'admin' },
  'DELETE /v1/projects/:id': { kind: 'admin' },
  'GET /v1/evaluations/:id': { kind: 'own', object: 'evaluation' },
  'DELETE /v1/evaluations/:id': { kind: 'own', object: 'evaluation' },
  'GET /v1/evaluations/:id/transitions': { kind: 'own', object: 'evaluation' },
  'GET /v1/evaluations/:id/logs': { kind: 'own', object: 'evaluation' },
  'GET /v1/evaluations/:id/deliveries': { kind: 'own', object: 'evaluation' },
  'GET /v1/evaluations/:id/artifacts': { kind: 'own', object: 'evaluation' },
  'GET /v1/evaluations/:id/artifacts*': {
    kind: 'scoped',
    why: 'one file of an evaluation, which is looked up for the caller as GET /v1/evaluations/:id is',
  },
  'POST /v1/prune': { kind: 'admin' },
  'GET /v1/batches/:id': { kind: 'own', object: 'batch' },
  'GET /v1/batches/:id/deliveries': { kind: 'own', object: 'batch' },
  'POST /v1/evaluations': { kind: 'scoped', why: 'records the caller as the user; keys per user' },
  'POST /v1/batches': { kind: 'scoped', why: 'records the caller as the user of every item' },
  'GET /v1/evaluations': { kind: 'scoped', why: "the caller's own; ?user= for admins" },
  'GET /v1/events': { kind: 'scoped', why: "transitions of the caller's own evaluations" },
  'GET /v1/queue': { kind: 'scoped', why: 'counts only, of no one in particular' },
  'GET /v1/clusters': { kind: 'scoped', why: 'cluster health, of no one in particular' },
  'GET /v1/projects': { kind: 'scoped', why: 'projects are shared (admins make them)' },
  'GET /v1/projects/:id': { kind: 'scoped', why: 'projects are shared (admins make them)' },
  'GET /v1/usage': { kind: 'scoped', why: "the caller's own usage; everyone's for admins" },
  'GET /v1/languages': { kind: 'scoped', why: 'the language catalogue, of no one in particular' },
  'GET /': { kind: 'public' },
  'GET /ui/:file': { kind: 'public' },
  'GET /ui/session': { kind: 'public' },
  'GET /ui/evaluations/:id/source': { kind: 'own', object: 'evaluation' },
};

/** Every `METHOD /path` of the app, from Fastify's own route tree (HEAD is its GET's, so left out). */
function routesOf(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: { depth: number; path: string }[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    while (stack.length > depth) stack.pop();
    const path = (stack[stack.length - 1]?.path ?? '') + match[2]!;
    stack.push({ depth, path });
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes.sort();
}

let harness: InProcess;
let app: FastifyInstance;
const tokens: Record<string, string> = { admin: ADMIN };
/** Every evaluation each user made here, to tell whose a streamed transition is. */
const made = new Map<string, string>();

async function call(method: InjectOptions['method'], url: string, user?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (user !== undefined) headers['authorization'] = `Bearer ${tokens[user] ?? user}`;
  return app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: body as object }) });
}

async function submit(user: string, code = `print("${user}")`, key?: string): Promise<string> {
  const answer = await app.inject({
    method: 'POST',
    url: '/v1/evaluations',
    headers: { authorization: `Bearer ${tokens[user]}`, ...(key ? { 'idempotency-key': key } : {}) },
    payload: { language: 'python', code },
  });
  expect(answer.statusCode, answer.body).toBe(202);
  const id = answer.json<{ id: string }>().id;
  made.set(id, user);
  return id;
}

async function objectOf(kind: 'evaluation' | 'batch', user: string): Promise<string> {
  if (kind === 'evaluation') return submit(user);
  const answer = await call('POST', '/v1/batches', user, {
    items: [{ language: 'python', code: 'print(1)' }],
  });
  expect(answer.statusCode, answer.body).toBe(202);
  return answer.json<{ id: string }>().id;
}

const urlOf = (route: string, id: string) => route.slice(route.indexOf(' ') + 1).replace(':id', id);
const methodOf = (route: string) => route.slice(0, route.indexOf(' ')) as InjectOptions['method'];

/** Follows `GET /v1/events` as `user`, collecting the evaluation id of each transition. */
function follow(url: string, user: string) {
  const abort = new AbortController();
  const ids: string[] = [];
  const waiters = new Map<string, () => void>();
  const reading = (async () => {
    const events = readSse(
      `${url}/v1/events?after=0`,
      { authorization: `Bearer ${tokens[user]}` },
      abort.signal,
    );
    for await (const event of events) {
      if (event.event !== 'transition') continue;
      const { evaluationId } = JSON.parse(event.data) as { evaluationId: string };
      ids.push(evaluationId);
      waiters.get(evaluationId)?.();
    }
  })();
  return {
    ids,
    until: (id: string) =>
      ids.includes(id) ? Promise.resolve() : new Promise<void>((resolve) => waiters.set(id, resolve)),
    stop: async () => {
      abort.abort();
      await reading;
    },
  };
}

beforeAll(async () => {
  // Runs print and stay running: there is output to read and a run to cancel.
  const runtime = new FakeRuntime({ script: (run) => run.print(`output of ${run.request.code}\n`) });
  harness = await inProcess({ runtime, adminToken: ADMIN, authRequired: true, concurrency: 4 });
  app = await harness.api();
  for (const user of ['alice', 'bob']) {
    const answer = await call('POST', '/v1/tokens', 'admin', { user, maxRunning: 2 });
    expect(answer.statusCode, answer.body).toBe(201);
    tokens[user] = answer.json<{ token: string }>().token;
  }
});

afterAll(async () => {
  await harness?.close();
});

describe('every route of the API', () => {
  it('is classified: public, admin-only, about one object of its user, or scoped', async () => {
    await app.ready();
    // A route listed here but missing from ROUTES is new: say in ROUTES who may call it (and make it so).
    expect(routesOf(app), 'every route of the app, as classified in ROUTES').toEqual(
      Object.keys(ROUTES).sort(),
    );
  });

  it('refuses a request without a token, or with an unknown one, unless it is public', async () => {
    const id = await submit('bob');
    for (const [route, guard] of Object.entries(ROUTES)) {
      const url = urlOf(route, id);
      const anonymous = await call(methodOf(route), url);
      if (guard.kind === 'public') {
        expect(anonymous.statusCode, route).not.toBe(401);
        continue;
      }
      expect(anonymous.statusCode, route).toBe(401);
      expect(anonymous.json().error.code, route).toBe('unauthenticated');
      expect(anonymous.headers['www-authenticate'], route).toMatch(/^Bearer/);
      const unknown = await call(methodOf(route), url, `cru_${'x'.repeat(43)}`);
      expect(unknown.statusCode, route).toBe(401);
    }
  });

  it('answers 403 forbidden to a user calling an admin-only route', async () => {
    for (const [route, guard] of Object.entries(ROUTES)) {
      if (guard.kind !== 'admin') continue;
      const answer = await call(methodOf(route), urlOf(route, 'any-id'), 'alice', {});
      expect(answer.statusCode, route).toBe(403);
      expect(answer.json().error.code, route).toBe('forbidden');
    }
  });

  it("answers 404 to a user asking for another user's object, and serves its owner and admins", async () => {
    for (const [route, guard] of Object.entries(ROUTES)) {
      if (guard.kind !== 'own') continue;
      const method = methodOf(route);
      const ofBob = await objectOf(guard.object, 'bob');
      const url = urlOf(route, ofBob);
      const byAlice = await call(method, url, 'alice');
      expect(byAlice.statusCode, `${route} by another user`).toBe(404);
      expect(byAlice.json().error.code, route).toBe('not_found');
      // Exactly as for an object that does not exist: nothing tells the two apart.
      const missing = await call(method, urlOf(route, 'no-such-id'), 'alice');
      expect(missing.statusCode, route).toBe(404);
      expect(byAlice.json().error.message.replace(ofBob, 'X')).toBe(
        missing.json().error.message.replace('no-such-id', 'X'),
      );
      expect((await call(method, url, 'bob')).statusCode, `${route} by its owner`).toBe(200);
      const other = await objectOf(guard.object, 'bob');
      expect((await call(method, urlOf(route, other), 'admin')).statusCode, `${route} by an admin`).toBe(200);
    }
  });
});

describe('the OpenAPI document', () => {
  it('declares the bearer scheme for every route but the public ones', async () => {
    await app.ready();
    const doc = app.swagger() as {
      security?: unknown;
      components?: { securitySchemes?: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    expect(doc.components?.securitySchemes?.['bearer']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
    const checked: string[] = [];
    for (const [route, guard] of Object.entries(ROUTES)) {
      const [method = '', path = ''] = route.split(' ');
      const operation = doc.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
      if (!operation) continue; // hidden from the document (e.g. /openapi.json itself)
      if (guard.kind === 'public') expect(operation.security, route).toEqual([]);
      else expect(operation.security, route).toBeUndefined();
      checked.push(route);
    }
    expect(checked).toContain('GET /v1/version');
    expect(checked).toContain('POST /v1/evaluations');
  });
});

describe("one user and another's evaluations", () => {
  it("cannot cancel another user's evaluation: it keeps running", async () => {
    const ofBob = await submit('bob');
    expect((await call('DELETE', `/v1/evaluations/${ofBob}`, 'alice')).statusCode).toBe(404);
    const after = await call('GET', `/v1/evaluations/${ofBob}`, 'bob');
    expect(after.json().status).not.toBe('cancelled');
    expect(after.json().user).toBe('bob');
  });

  it("cannot read another user's logs or transitions, followed or not", async () => {
    const ofBob = await submit('bob');
    for (const url of [`/v1/evaluations/${ofBob}/logs?follow=true`, `/v1/evaluations/${ofBob}/logs`]) {
      const answer = await app.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${tokens.alice}`, accept: 'text/event-stream' },
      });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.body).not.toContain('output of');
    }
    expect((await call('GET', `/v1/evaluations/${ofBob}/transitions`, 'alice')).statusCode).toBe(404);
    expect((await call('GET', `/v1/evaluations/${ofBob}?wait=1`, 'alice')).statusCode).toBe(404);
  });

  it('lists only their own; only admins filter by another user', async () => {
    const ofAlice = await submit('alice');
    const ofBob = await submit('bob');
    const mine = (await call('GET', '/v1/evaluations?limit=500', 'alice')).json<{
      items: { id: string; user: string }[];
    }>();
    expect(mine.items.map((e) => e.id)).toContain(ofAlice);
    expect(mine.items.every((e) => e.user === 'alice')).toBe(true);
    expect((await call('GET', '/v1/evaluations?user=alice', 'alice')).statusCode).toBe(200);
    const nosy = await call('GET', '/v1/evaluations?user=bob', 'alice');
    expect(nosy.statusCode).toBe(403);
    expect(nosy.json().error.code).toBe('forbidden');

    const all = (await call('GET', '/v1/evaluations?limit=500', 'admin')).json<{ items: { id: string }[] }>();
    expect(all.items.map((e) => e.id)).toEqual(expect.arrayContaining([ofAlice, ofBob]));
    const bobs = (await call('GET', '/v1/evaluations?user=bob&limit=500', 'admin')).json<{
      items: { id: string; user: string }[];
    }>();
    expect(bobs.items.map((e) => e.id)).toContain(ofBob);
    expect(bobs.items.every((e) => e.user === 'bob')).toBe(true);
  });

  it("streams only the caller's own transitions on /v1/events (admins: all), from the store and live", async () => {
    const before = { bob: await submit('bob'), alice: await submit('alice') };
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const alice = follow(url, 'alice');
    const admin = follow(url, 'admin');
    // From the store: everything up to alice's latest, bob's passed over.
    await alice.until(before.alice);
    await admin.until(before.alice);
    // Live: both streams are past the backlog now; bob's submission comes first, alice's after it.
    const next = { bob: await submit('bob'), alice: await submit('alice') };
    await alice.until(next.alice);
    await admin.until(next.alice);
    await Promise.all([alice.stop(), admin.stop()]);
    expect(alice.ids).toEqual(expect.arrayContaining([before.alice, next.alice]));
    expect(alice.ids.filter((id) => made.get(id) !== 'alice')).toEqual([]);
    expect(admin.ids).toEqual(expect.arrayContaining([before.bob, before.alice, next.bob, next.alice]));
  });

  it('keeps Idempotency-Keys per user: the same key from two users is two submissions', async () => {
    const key = 'the-same-key-from-two-users';
    const ofAlice = await submit('alice', 'print("a")', key);
    const ofBob = await submit('bob', 'print("b")', key);
    expect(ofBob).not.toBe(ofAlice);
    expect(await submit('alice', 'print("a")', key)).toBe(ofAlice);
  });

  it('records the user on each evaluation; the bootstrap admin is "admin"', async () => {
    const ofAdmin = await submit('admin');
    expect((await call('GET', `/v1/evaluations/${ofAdmin}`, 'admin')).json().user).toBe('admin');
    expect((await call('GET', `/v1/evaluations/${ofAdmin}`, 'alice')).statusCode).toBe(404);
  });
});

describe('tokens over HTTP', () => {
  it('creates a token shown once, lists it without secrets, and revokes it at once', async () => {
    const created = await call('POST', '/v1/tokens', 'admin', {
      user: 'dave',
      maxRunning: 3,
      maxQueued: 50,
      ratePerMinute: 120,
    });
    expect(created.statusCode).toBe(201);
    const body = created.json<Record<string, unknown>>();
    expect(body).toEqual({
      id: expect.stringMatching(/^tok_/),
      token: expect.stringMatching(/^cru_[A-Za-z0-9_-]{43}$/),
      user: 'dave',
      admin: false,
      maxRunning: 3,
      maxQueued: 50,
      ratePerMinute: 120,
      createdAt: expect.any(String),
    });
    const dave = body.token as string;
    const listed = (await call('GET', '/v1/tokens', 'admin')).json<{ items: Record<string, unknown>[] }>();
    const entry = listed.items.find((t) => t.id === body.id);
    expect(entry).toEqual({ ...body, token: undefined });
    expect(JSON.stringify(listed)).not.toContain(dave);

    expect((await call('GET', '/v1/queue', dave)).statusCode).toBe(200);
    expect((await call('DELETE', `/v1/tokens/${String(body.id)}`, 'admin')).statusCode).toBe(204);
    expect((await call('GET', '/v1/queue', dave)).statusCode).toBe(401);
    expect((await call('DELETE', `/v1/tokens/${String(body.id)}`, 'admin')).statusCode).toBe(404);
  });

  it('refuses a bad user name or quota with 400 naming the field', async () => {
    const badUser = await call('POST', '/v1/tokens', 'admin', { user: 'no spaces' });
    expect(badUser.statusCode).toBe(400);
    expect(badUser.json().error.field).toBe('user');
    const badQuota = await call('POST', '/v1/tokens', 'admin', { user: 'eve', maxQueued: -1 });
    expect(badQuota.statusCode).toBe(400);
    expect(badQuota.json().error.field).toBe('maxQueued');
  });
});

describe('with authentication off (the loopback default)', () => {
  it('needs no token, records no user and lets anyone see everything', async () => {
    const open = await inProcess({ runtime: new FakeRuntime() });
    try {
      const api = await open.api();
      const submitted = await api.inject({
        method: 'POST',
        url: '/v1/evaluations',
        payload: { language: 'python', code: 'print(1)' },
      });
      expect(submitted.statusCode).toBe(202);
      expect(submitted.json().user).toBeNull();
      const id = submitted.json<{ id: string }>().id;
      expect((await api.inject({ method: 'GET', url: `/v1/evaluations/${id}` })).statusCode).toBe(200);
      expect((await api.inject({ method: 'GET', url: '/v1/tokens' })).statusCode).toBe(200);
    } finally {
      await open.close();
    }
  });
});
