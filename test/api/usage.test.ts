import { afterEach, describe, expect, test } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import { FakeRuntime, measuredRun } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { moveTo, queuedEvaluation } from '../store/fixtures.js';

const MIB = 1024 * 1024;
const zeros = { succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, error: 0 };

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

async function api() {
  const p = await inProcess({ runtime: new FakeRuntime({ script: measuredRun }) });
  open.push(p);
  return { p, app: await p.api() };
}

/** A window around now that holds every run of the test (runs "finish" up to a few seconds ahead). */
const window = () => {
  const now = Date.now();
  return `from=${new Date(now - 3_600_000).toISOString()}&to=${new Date(now + 3_600_000).toISOString()}`;
};

describe('GET /v1/usage', () => {
  test("groups runs by a label's value, wall, CPU and peak × wall as the runtime reported them", async () => {
    const { p, app } = await api();
    const submit = async (code: string, labels: Record<string, string>) => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/evaluations',
        payload: { language: 'python', code, labels },
      });
      expect(response.statusCode).toBe(202);
      return (await p.service.wait(response.json<{ id: string }>().id, 5_000)).status;
    };
    expect(await submit('2000 1500 64 0', { team: 'red' })).toBe('succeeded');
    expect(await submit('1000 250 32 1', { team: 'red' })).toBe('failed');
    expect(await submit('500 500 16 0', { team: 'blue' })).toBe('succeeded');
    expect(await submit('4000 0 1 0', { other: 'x' })).toBe('succeeded');

    const response = await app.inject({ method: 'GET', url: `/v1/usage?${window()}&groupBy=label:team` });
    expect(response.statusCode).toBe(200);
    const report = response.json<{ groupBy: string; items: unknown[] }>();
    expect(report.groupBy).toBe('label:team');
    expect(report.items).toEqual([
      {
        key: 'blue',
        evaluations: 1,
        byStatus: { ...zeros, succeeded: 1 },
        wallSeconds: 0.5,
        cpuSeconds: 0.5,
        memoryMbSeconds: 8,
      },
      {
        key: 'red',
        evaluations: 2,
        byStatus: { ...zeros, succeeded: 1, failed: 1 },
        wallSeconds: 3,
        cpuSeconds: 1.75,
        memoryMbSeconds: 64 * 2 + 32,
      },
      {
        key: null,
        evaluations: 1,
        byStatus: { ...zeros, succeeded: 1 },
        wallSeconds: 4,
        cpuSeconds: 0,
        memoryMbSeconds: 4,
      },
    ]);
  });

  test('groups by user (the default); a non-admin caller sees only their own', async () => {
    const { p, app } = await api();
    const finishedAt = new Date().toISOString();
    const ended = async (user: string, durationMs: number) => {
      const e: Evaluation = queuedEvaluation({ user });
      await p.store.create(e);
      const result = {
        exitCode: 0,
        signal: null,
        reason: null,
        message: null,
        durationMs,
        cpuTimeMs: durationMs / 2,
        peakMemoryBytes: MIB,
        memoryEnforcement: 'cgroup' as const,
        stdoutTruncated: false,
        stderrTruncated: false,
        outputComplete: true,
      };
      await p.store.saveTransition(
        moveTo(e, 'succeeded', {
          timings: { ...e.timings, startedAt: e.timings.submittedAt, finishedAt },
          result,
        }),
      );
    };
    await ended('alice', 1000);
    await ended('alice', 3000);
    await ended('bob', 2000);

    const response = await app.inject({ method: 'GET', url: `/v1/usage?${window()}` });
    expect(response.statusCode).toBe(200);
    const items = response.json<{ items: { key: string; evaluations: number; wallSeconds: number }[] }>()
      .items;
    expect(items.map((i) => [i.key, i.evaluations, i.wallSeconds])).toEqual([
      ['alice', 2, 4],
      ['bob', 1, 2],
    ]);

    const asBob = await p.service.usage!.report({ groupBy: 'user' }, { user: 'bob', admin: false });
    expect(asBob.items.map((i) => [i.key, i.evaluations, i.cpuSeconds])).toEqual([['bob', 1, 1]]);
    const asAdmin = await p.service.usage!.report({ groupBy: 'user' }, { user: 'root', admin: true });
    expect(asAdmin.items.map((i) => i.key)).toEqual(['alice', 'bob']);
    await expect(
      p.service.usage!.report({ groupBy: 'user' }, { user: null, admin: false }),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });
  });

  test("with authentication on, a user sees their own usage, an admin everyone's, no token a 401", async () => {
    const ADMIN = 'bootstrap-admin-token-for-the-usage-tests';
    const p = await inProcess({
      runtime: new FakeRuntime({ script: measuredRun }),
      adminToken: ADMIN,
      authRequired: true,
    });
    open.push(p);
    const app = await p.api();
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const tokens: Record<string, string> = {};
    for (const user of ['alice', 'bob']) {
      const answer = await app.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: bearer(ADMIN),
        payload: { user },
      });
      expect(answer.statusCode, answer.body).toBe(201);
      tokens[user] = answer.json<{ token: string }>().token;
    }
    const submit = async (user: string, code: string, team: string) => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/evaluations',
        headers: bearer(tokens[user]!),
        payload: { language: 'python', code, labels: { team } },
      });
      expect(response.statusCode, response.body).toBe(202);
      await p.service.wait(response.json<{ id: string }>().id, 5_000);
    };
    await submit('alice', '1000 1000 1 0', 'red');
    await submit('alice', '2000 1000 1 0', 'blue');
    await submit('bob', '4000 1000 1 0', 'red');

    const usage = async (token: string | null, groupBy: string) => {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/usage?${window()}&groupBy=${groupBy}`,
        ...(token === null ? {} : { headers: bearer(token) }),
      });
      return response;
    };
    const keys = (r: Awaited<ReturnType<typeof usage>>) =>
      r.json<{ items: { key: string; wallSeconds: number }[] }>().items.map((i) => [i.key, i.wallSeconds]);
    expect(keys(await usage(tokens['alice']!, 'user'))).toEqual([['alice', 3]]);
    expect(keys(await usage(tokens['alice']!, 'label:team'))).toEqual([
      ['blue', 2],
      ['red', 1],
    ]);
    expect(keys(await usage(tokens['bob']!, 'label:team'))).toEqual([['red', 4]]);
    expect(keys(await usage(ADMIN, 'user'))).toEqual([
      ['alice', 3],
      ['bob', 4],
    ]);
    expect(keys(await usage(ADMIN, 'label:team'))).toEqual([
      ['blue', 2],
      ['red', 5],
    ]);
    const anonymous = await usage(null, 'user');
    expect(anonymous.statusCode).toBe(401);
  });

  test('defaults to the week before now, grouped by user', async () => {
    const { app } = await api();
    const before = Date.now();
    const response = await app.inject({ method: 'GET', url: '/v1/usage' });
    expect(response.statusCode).toBe(200);
    const report = response.json<{ from: string; to: string; groupBy: string; items: unknown[] }>();
    expect(report.groupBy).toBe('user');
    expect(Date.parse(report.to) - Date.parse(report.from)).toBe(7 * 24 * 3_600_000);
    expect(Date.parse(report.to)).toBeGreaterThanOrEqual(before);
    expect(report.items).toEqual([]);
  });

  test.each([
    ['from=yesterday', 'from', /from must be an ISO 8601 time/],
    ['to=2026-03-01T10:00:00', 'to', /to must be an ISO 8601 time with a zone/],
    ['from=2026-13-01', 'from', /from must be an ISO 8601 time/],
    ['from=2026-03-02&to=2026-03-01', 'from', /from must be before to/],
    ['from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'from', /from must be before to/],
    ['from=2025-01-01&to=2026-03-01', 'to', /at most 366 days apart/],
    ['groupBy=team', 'groupBy', /groupBy must be "user" or "label:KEY"/],
    ['groupBy=label:', 'groupBy', /groupBy must be "user" or "label:KEY"/],
    ['groupBy=label:no%20spaces', 'groupBy', /groupBy must be/],
    ['user=alice', 'user', /unknown field "user"/],
  ])('400 for %s, naming %s', async (query, field, message) => {
    const { app } = await api();
    const response = await app.inject({ method: 'GET', url: `/v1/usage?${query}` });
    expect(response.statusCode).toBe(400);
    const { error } = response.json<{ error: { code: string; field: string; message: string } }>();
    expect(error.code).toBe('invalid_request');
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  test('accepts offsets and dates: the window is answered in UTC', async () => {
    const { app } = await api();
    const response = await app.inject({
      method: 'GET',
      url: '/v1/usage?from=2026-03-01&to=2026-03-01T12:00:00%2B02:00&groupBy=label:team',
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-01T10:00:00.000Z',
      groupBy: 'label:team',
    });
  });
});
