import { afterEach, describe, expect, it } from 'vitest';
import {
  Crucible,
  CrucibleError,
  CrucibleUnreachableError,
  type RetryEvent,
} from '../../src/client/index.js';
import { ScriptedServer, apiError, evaluation, freePort, json } from './scripted-server.js';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(script: Parameters<typeof ScriptedServer.start>[0], port?: number) {
  const server = ScriptedServer.start(script, port);
  servers.push(server);
  await server.ready();
  return server;
}

const fast = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

describe('SDK retries', () => {
  it('waits out a 429 with Retry-After and resubmits with the same Idempotency-Key: one evaluation', async () => {
    const server = await serve((_req, res, i) =>
      i === 0
        ? json(res, 429, apiError('rate_limited', 'slow down'), { 'retry-after': '1' })
        : json(res, 201, evaluation({ id: 'ev_once' })),
    );
    const started = performance.now();
    const submitted = await new Crucible({ baseUrl: server.url, retry: fast }).submit({
      language: 'python',
      code: 'print(1)',
    });
    expect(submitted.id).toBe('ev_once');
    expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests.map((r) => r.headers['idempotency-key']);
    // A version-4 UUID (RFC 9562: version nibble 4, variant bits 10).
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second).toBe(first);
    expect(JSON.parse(server.requests[1]!.body)).toEqual({ language: 'python', code: 'print(1)' });
  });

  it('gives each logical submission its own key, and sends the caller’s key when given', async () => {
    const server = await serve((_req, res) => json(res, 202, evaluation()));
    const crucible = new Crucible({ baseUrl: server.url, retry: fast });
    await crucible.submit({ language: 'python', code: '1' });
    await crucible.submit({ language: 'python', code: '1' });
    await crucible.submit({ language: 'python', code: '1' }, { idempotencyKey: 'job-42' });
    const keys = server.requests.map((r) => r.headers['idempotency-key']);
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys[2]).toBe('job-42');
  });

  it('retries 503 until it passes, and stops after the bounded number of attempts', async () => {
    const recovering = await serve((_req, res, i) =>
      i < 2 ? json(res, 503, apiError('unavailable', 'busy')) : json(res, 200, { status: 'ok' }),
    );
    expect(await new Crucible({ baseUrl: recovering.url, retry: fast }).health()).toEqual({ status: 'ok' });
    expect(recovering.requests).toHaveLength(3);

    const down = await serve((_req, res) => json(res, 503, apiError('storage_full', 'disk full')));
    const error = await new Crucible({ baseUrl: down.url, retry: fast }).get('ev_1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrucibleError);
    expect(error).toMatchObject({ status: 503, code: 'storage_full', message: 'disk full' });
    expect(down.requests).toHaveLength(fast.attempts);
  });

  it('does not retry a refusal and carries the API’s code, message and field', async () => {
    const server = await serve((_req, res) =>
      json(
        res,
        400,
        apiError('invalid_request', 'timeoutSeconds must be between 1 and 300', 'timeoutSeconds'),
      ),
    );
    const error = await new Crucible({ baseUrl: server.url, retry: fast })
      .submit({ language: 'python', code: '1', timeoutSeconds: 9999 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrucibleError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', field: 'timeoutSeconds' });
    expect(server.requests).toHaveLength(1);
  });

  it('does not wait for a Retry-After beyond its bound', async () => {
    const server = await serve((_req, res) =>
      json(res, 429, apiError('rate_limited', 'come back tomorrow'), { 'retry-after': '86400' }),
    );
    const crucible = new Crucible({ baseUrl: server.url, retry: { ...fast, maxRetryAfterMs: 1000 } });
    await expect(crucible.health()).rejects.toMatchObject({ status: 429, code: 'rate_limited' });
    expect(server.requests).toHaveLength(1);
  });

  it('retries a refused connection until the server is up', async () => {
    const port = await freePort();
    const retries: RetryEvent[] = [];
    // The first refusal starts the server; binding an IP address is synchronous, so the retry finds it.
    const onRetry = (retry: RetryEvent) => {
      retries.push(retry);
      if (retries.length === 1)
        servers.push(ScriptedServer.start((_req, res) => json(res, 200, { status: 'ok' }), port));
    };
    const crucible = new Crucible({ baseUrl: `http://127.0.0.1:${port}`, retry: { ...fast, onRetry } });
    expect(await crucible.health()).toEqual({ status: 'ok' });
    expect(retries).toEqual([
      { method: 'GET', path: '/healthz', attempt: 1, reason: 'ECONNREFUSED', delayMs: expect.any(Number) },
    ]);
    expect(servers[0]!.requests).toHaveLength(1);
  });

  it('retries a connection reset by the server', async () => {
    const server = await serve((_req, res, i) => {
      if (i === 0) res.socket?.resetAndDestroy();
      else json(res, 200, { status: 'ok' });
    });
    expect(await new Crucible({ baseUrl: server.url, retry: fast }).health()).toEqual({ status: 'ok' });
    expect(server.requests).toHaveLength(2);
  });

  it('says the server is unreachable once every attempt was refused', async () => {
    const port = await freePort();
    const error = await new Crucible({ baseUrl: `http://127.0.0.1:${port}`, retry: fast })
      .health()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrucibleUnreachableError);
    expect(error).toMatchObject({ causeCode: 'ECONNREFUSED' });
  });

  it('stops waiting to retry when the caller aborts', async () => {
    let answered!: () => void;
    const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
    const server = await serve((_req, res) => {
      json(res, 503, apiError('unavailable', 'busy'), { 'retry-after': '30' });
      answered();
    });
    const abort = new AbortController();
    const pending = new Crucible({ baseUrl: server.url, retry: fast }).health({ signal: abort.signal });
    await firstAnswer;
    abort.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
    expect(server.requests).toHaveLength(1);
  });
});
