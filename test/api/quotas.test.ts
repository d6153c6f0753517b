import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const ADMIN = 'bootstrap-admin-token-for-the-quota-tests';

let harness: InProcess;
let app: FastifyInstance;
const runtime = new FakeRuntime({ script: () => undefined });

async function token(user: string, quotas: Record<string, number>): Promise<string> {
  const answer = await app.inject({
    method: 'POST',
    url: '/v1/tokens',
    headers: { authorization: `Bearer ${ADMIN}` },
    payload: { user, ...quotas },
  });
  expect(answer.statusCode, answer.body).toBe(201);
  return answer.json<{ token: string }>().token;
}

const submit = (bearer: string, code = 'print(1)') =>
  app.inject({
    method: 'POST',
    url: '/v1/evaluations',
    headers: { authorization: `Bearer ${bearer}` },
    payload: { language: 'python', code },
  });

const batch = (bearer: string, items: number) =>
  app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: { authorization: `Bearer ${bearer}` },
    payload: {
      items: Array.from({ length: items }, (_, i) => ({ language: 'python', code: `print(${i})` })),
    },
  });

async function storedOf(user: string): Promise<number> {
  return (await harness.store.list({ user, limit: 1000 })).items.length;
}

beforeAll(async () => {
  // Runs never end: what is claimed stays running, the rest stays queued.
  harness = await inProcess({ runtime, adminToken: ADMIN, authRequired: true, concurrency: 8 });
  app = await harness.api();
});

afterAll(async () => {
  await harness.close();
});

describe('per-user quotas over HTTP', () => {
  it('answers 429 quota_exceeded past maxQueued, naming the limit, and stores nothing', async () => {
    const bearer = await token('queuer', { maxQueued: 3, maxRunning: 1 });
    // One runs (maxRunning 1), three wait: the queue is full.
    for (let i = 0; i < 4; i++) expect((await submit(bearer)).statusCode).toBe(202);
    await expect.poll(() => runtime.started.length).toBeGreaterThanOrEqual(1);
    const refused = await submit(bearer);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'quota_exceeded' } });
    expect(refused.json<{ error: { message: string } }>().error.message).toContain('maxQueued of 3');
    expect(await storedOf('queuer')).toBe(4);
    // A batch counts every item: all or nothing.
    expect((await batch(bearer, 2)).statusCode).toBe(429);
    expect(await storedOf('queuer')).toBe(4);
  });

  it('runs at most maxRunning of a user at once; the others wait queued while other users run', async () => {
    const limited = await token('limited', { maxRunning: 2 });
    const other = await token('other', {});
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(limited)).json<{ id: string }>().id);
    const theirs = (await submit(other)).json<{ id: string }>().id;
    await expect.poll(() => runtime.started.includes(theirs)).toBe(true);
    const running = ids.filter((id) => runtime.started.includes(id));
    expect(running).toHaveLength(2);
    const queued = await harness.store.list({ user: 'limited', status: 'queued', limit: 10 });
    expect(queued.items).toHaveLength(3);
  });

  it('answers 429 rate_limited with Retry-After past ratePerMinute, and stores nothing', async () => {
    const bearer = await token('hasty', { ratePerMinute: 2 });
    expect((await submit(bearer)).statusCode).toBe(202);
    expect((await submit(bearer)).statusCode).toBe(202);
    const refused = await submit(bearer);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'rate_limited' } });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await batch(bearer, 1)).statusCode).toBe(429);
    expect(await storedOf('hasty')).toBe(2);
  });

  it('limits nobody without quotas, nor the bootstrap admin token', async () => {
    for (let i = 0; i < 3; i++) expect((await submit(ADMIN)).statusCode).toBe(202);
    const free = await token('free', {});
    expect((await batch(free, 10)).statusCode).toBe(202);
  });
});
