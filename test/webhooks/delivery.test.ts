import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { Receiver, SECRET, webhookServer } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'crucible-webhooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let receiver: Receiver | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await receiver?.close();
  receiver = undefined;
});

async function serverOn(path: string, sender: Parameters<typeof webhookServer>[1]) {
  const server = await webhookServer(createSqliteStore({ path }), sender);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  cleanups.push(close);
  return { ...server, close };
}

async function submit(server: Awaited<ReturnType<typeof serverOn>>, url: string) {
  const app = await server.api();
  const response = await app.inject({
    method: 'POST',
    url: '/v1/evaluations',
    payload: { language: 'python', code: 'print("hi")', webhook: { url } },
  });
  expect(response.statusCode).toBe(202);
  return response.json<{ id: string }>().id;
}

describe('webhook delivery', () => {
  it('retries a receiver that fails three times: the fourth attempt is delivered, signed, same webhook-id', async () => {
    receiver = await Receiver.start((n, response) => response.writeHead(n <= 3 ? 500 : 204).end());
    const server = await serverOn(join(dir, 'retries.db'), {
      schedule: (failed) => (failed < 10 ? 0 : null),
    });
    const id = await submit(server, receiver.url);
    await server.attempts.until(4);

    expect(receiver.requests).toHaveLength(4);
    const verifier = new Webhook(SECRET);
    for (const request of receiver.requests) {
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['webhook-id']).toBe(`msg_${id}`);
      expect(verifier.verify(request.body, request.headers)).toMatchObject({ id, status: 'succeeded' });
    }
    // The same view GET /v1/evaluations/{id} answers, output included.
    const app = await server.api();
    const view = (await app.inject({ method: 'GET', url: `/v1/evaluations/${id}` })).json<object>();
    expect(JSON.parse(receiver.requests[3]!.body)).toEqual(view);
    expect(JSON.parse(receiver.requests[3]!.body)).toMatchObject({ result: { stdout: 'print("hi")' } });

    const log = (await app.inject({ method: 'GET', url: `/v1/evaluations/${id}/deliveries` })).json<{
      webhook: { id: string; state: string; attempts: number; nextAttemptAt: string | null };
      items: {
        attempt: number;
        statusCode: number | null;
        error: string | null;
        nextAttemptAt: string | null;
      }[];
    }>();
    expect(log.webhook).toMatchObject({
      id: `msg_${id}`,
      state: 'delivered',
      attempts: 4,
      nextAttemptAt: null,
    });
    expect(log.items.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 204],
    ]);
    expect(log.items[0]!.error).toBe('answered 500');
    expect(log.items[0]!.nextAttemptAt).not.toBeNull();
    expect(log.items[3]).toMatchObject({ error: null, nextAttemptAt: null });
  });

  it('loses nothing across a restart between attempts: the new server makes the next one', async () => {
    const path = join(dir, 'restart.db');
    receiver = await Receiver.start((_n, response) => response.writeHead(503).end());
    const start = Date.now();
    const hour = 3_600_000;
    const first = await serverOn(path, { schedule: () => hour, now: () => start });
    const id = await submit(first, receiver.url);
    await first.attempts.until(1);
    expect(first.attempts.records[0]).toMatchObject({
      attempt: 1,
      statusCode: 503,
      nextAttemptMs: start + hour,
    });
    await first.close();

    receiver.answer((_n, response) => response.writeHead(200).end('ok'));
    // A new store and service on the same file, an hour later by the injected clock.
    const second = await serverOn(path, { schedule: () => hour, now: () => start + hour });
    await second.attempts.until(1);
    expect(second.attempts.records[0]).toMatchObject({ attempt: 2, statusCode: 200, delivered: true });
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([`msg_${id}`, `msg_${id}`]);
    const log = await second.service.deliveries(id);
    expect(log?.delivery).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(log?.attempts.map((a) => a.statusCode)).toEqual([503, 200]);
  });

  it('does not follow redirects: a 3xx is a failed attempt and the Location is never requested', async () => {
    receiver = await Receiver.start((_n, response) =>
      response.writeHead(302, { location: receiver!.url.replace('/hook', '/elsewhere') }).end(),
    );
    const server = await serverOn(join(dir, 'redirect.db'), { schedule: () => null });
    const id = await submit(server, receiver.url);
    await server.attempts.until(1);
    expect(receiver.requests.map((r) => r.url)).toEqual(['/hook']);
    const log = await server.service.deliveries(id);
    expect(log?.delivery.state).toBe('failed');
    expect(log?.attempts[0]).toMatchObject({ statusCode: 302, nextAttemptAt: null });
    expect(log?.attempts[0]?.error).toMatch(/redirects .*are not followed/);
  });

  it('fails an attempt that gets no answer in time; a status that came in time counts', async () => {
    receiver = await Receiver.start((n, response) => {
      if (n === 1) return; // never answers
      response.writeHead(200);
      response.write('still writing'); // and never ends
    });
    const server = await serverOn(join(dir, 'timeout.db'), {
      schedule: (failed) => (failed < 2 ? 0 : null),
      timeoutMs: 200,
    });
    const id = await submit(server, receiver.url);
    await server.attempts.until(2);
    const log = await server.service.deliveries(id);
    expect(log?.attempts.map((a) => [a.statusCode, a.error])).toEqual([
      [null, 'no answer within 0.2 s'],
      [200, null],
    ]);
    expect(log?.delivery.state).toBe('delivered');
  });

  it('reads an answer only up to the bound, not waiting for the rest', async () => {
    receiver = await Receiver.start((_n, response) => {
      response.writeHead(200);
      response.write(Buffer.alloc(256 * 1024)); // and never ends
    });
    const server = await serverOn(join(dir, 'bounded.db'), {
      schedule: () => null,
      timeoutMs: 30_000,
      maxResponseBytes: 1024,
    });
    await submit(server, receiver.url);
    await server.attempts.until(1);
    // Well before the 30 s timeout: the attempt ended at the bound.
    expect(server.attempts.records[0]).toMatchObject({ statusCode: 200, delivered: true });
    expect(server.attempts.records[0]!.durationMs).toBeLessThan(10_000);
  });

  it('checks the target again at delivery: a name that now resolves to loopback is refused (DNS rebinding)', async () => {
    receiver = await Receiver.start((_n, response) => response.writeHead(204).end());
    const port = new URL(receiver.url).port;
    let lookups = 0;
    const server = await serverOn(join(dir, 'rebinding.db'), {
      allowPrivate: false,
      schedule: () => null,
      lookup: async () => [{ address: lookups++ === 0 ? '93.184.215.14' : '127.0.0.1', family: 4 }],
    });
    const id = await submit(server, `http://hooks.example.com:${port}/hook`);
    await server.attempts.until(1);
    expect(receiver.requests).toEqual([]);
    const [attempt] = (await server.service.deliveries(id))!.attempts;
    expect(attempt).toMatchObject({ statusCode: null });
    expect(attempt?.error).toMatch(
      /^refused: host hooks\.example\.com is a loopback address \(127\.0\.0\.1\)/,
    );
  });
});
