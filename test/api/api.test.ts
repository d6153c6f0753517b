import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import Fastify from 'fastify';
import { CrucibleError } from '../../src/core/index.js';
import { NDJSON, SSE, StreamLimiter, streamFrames } from '../../src/api/streaming.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

async function api(options: Partial<Parameters<typeof inProcess>[0]> = {}) {
  const p = await inProcess({ runtime: new FakeRuntime(), ...options });
  open.push(p);
  return { p, app: await p.api() };
}

const submission = { language: 'python', code: 'print(1)' };

describe('HTTP API in process (app.inject)', () => {
  test('a 500 is logged with its cause, and the client is told only to see the log', async () => {
    const inner = createSqliteStore({ path: ':memory:' });
    const broken: EvaluationStore = Object.assign(Object.create(inner) as EvaluationStore, {
      get: async () => {
        throw new Error('disk I/O error (injected)');
      },
    });
    const { p, app } = await api({ store: broken });
    const response = await app.inject({ method: 'GET', url: '/v1/evaluations/abc' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      error: { code: 'internal', message: 'internal error; see the server log', field: null },
    });
    expect(p.log.errors().join('\n')).toMatch(
      /GET \/v1\/evaluations\/abc failed: Error: disk I\/O error \(injected\)/,
    );
  });

  test('list items leave output out (no stdout/stderr keys, outputIncluded: false); the evaluation has it', async () => {
    const { p, app } = await api();
    const created = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: { ...submission, code: 'hi' },
    });
    expect(created.statusCode).toBe(202);
    const id = created.json<{ id: string }>().id;
    await p.service.wait(id, 5_000);
    const list = await app.inject({ method: 'GET', url: '/v1/evaluations' });
    const item = list.json<{ items: Record<string, unknown>[] }>().items[0]!;
    expect(item).toMatchObject({ id, status: 'succeeded', outputIncluded: false });
    expect(item['result']).not.toHaveProperty('stdout');
    expect(item['result']).not.toHaveProperty('stderr');
    const one = await app.inject({ method: 'GET', url: `/v1/evaluations/${id}` });
    expect(one.json()).toMatchObject({ result: { stdout: 'hi', stderr: '' } });
  });

  test('a /metrics scrape reads the queue from the store once, for all three queue gauges', async () => {
    const real = createSqliteStore({ path: ':memory:' });
    let reads = 0;
    const counted: EvaluationStore = Object.create(real, {
      queueCounts: {
        value: () => {
          reads += 1;
          return real.queueCounts();
        },
      },
    }) as EvaluationStore;
    const { app } = await api({ store: counted });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.body).toMatch(/crucible_queue_depth\{priority="normal"\} 0/);
    expect(response.body).toMatch(/crucible_running 0/);
    expect(response.body).toMatch(/crucible_replica_slots_used 0/);
    expect(reads).toBe(1);
  });

  test('cancelling a run that printed answers with what it printed', async () => {
    const runtime = new FakeRuntime({ script: (run) => run.print('partial\n') });
    const { p, app } = await api({ runtime });
    const created = await app.inject({ method: 'POST', url: '/v1/evaluations', payload: submission });
    const id = created.json<{ id: string }>().id;
    for (let i = 0; i < 1000 && (await p.store.readLogs(id)).length === 0; i++) await nextTurn();
    const cancelled = await app.inject({ method: 'DELETE', url: `/v1/evaluations/${id}` });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', result: { stdout: 'partial\n' } });
  });

  test('?mirror= is refused, naming the field, where no Evaluation CRD is served; nothing is stored', async () => {
    const { p, app } = await api();
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?mirror=Not_A_Namespace',
      payload: submission,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { message: expect.stringContaining('mirror') } });
    const off = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?mirror=evals',
      payload: submission,
    });
    expect(off.statusCode).toBe(400);
    expect(off.json()).toMatchObject({
      error: { field: 'mirror', message: expect.stringContaining('--crd') },
    });
    expect((await p.service.list({ limit: 10 })).items).toEqual([]);
  });

  test('a mirror that cannot be written answers 503 with the evaluation accepted; the retry writes it', async () => {
    let failures = 1;
    const mirrored: string[] = [];
    const { p, app } = await api({
      mirror: {
        watches: (namespace) => namespace === 'evals',
        mirror: async (evaluation) => {
          if (failures-- > 0) throw new Error('the API server did not answer');
          mirrored.push(evaluation.id);
        },
      },
    });
    const headers = { 'idempotency-key': 'mirror-1' };
    const url = '/v1/evaluations?mirror=evals';
    const first = await app.inject({ method: 'POST', url, payload: submission, headers });
    expect(first.statusCode).toBe(503);
    expect(first.json()).toMatchObject({ error: { field: 'mirror' } });
    const again = await app.inject({ method: 'POST', url, payload: submission, headers });
    expect(again.statusCode).toBe(202);
    const id = again.json<{ id: string }>().id;
    expect(mirrored).toEqual([id]);
    expect((await p.service.list({ limit: 10 })).items.map((e) => e.id)).toEqual([id]);
  });

  test('Idempotency-Key: a repeat answers the first evaluation, a changed body 409, a bad key 400', async () => {
    const runtime = new FakeRuntime();
    const { app } = await api({ runtime });
    const post = (headers: Record<string, string>, payload: object = submission) =>
      app.inject({ method: 'POST', url: '/v1/evaluations', payload, headers });
    const first = await post({ 'idempotency-key': 'abc-123' });
    const second = await post({ 'idempotency-key': 'abc-123' });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.json<{ id: string }>().id).toBe(first.json<{ id: string }>().id);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.headers['location']).toBe(`/v1/evaluations/${first.json<{ id: string }>().id}`);
    const conflict = await post({ 'idempotency-key': 'abc-123' }, { ...submission, code: 'print(2)' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({
      error: { code: 'idempotency_conflict', field: 'idempotency-key' },
    });
    const bad = await post({ 'idempotency-key': 'has space' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'invalid_request', field: 'idempotency-key' } });
    const list = await app.inject({ method: 'GET', url: '/v1/evaluations' });
    expect(list.json<{ items: unknown[] }>().items).toHaveLength(1);
  });

  test('GET /v1/version answers the version; transitions of an unknown id are 404', async () => {
    const { app } = await api();
    expect((await app.inject({ method: 'GET', url: '/v1/version' })).json()).toEqual({
      version: '0.0.0-test',
    });
    const missing = await app.inject({ method: 'GET', url: '/v1/evaluations/nope/transitions' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'not_found', field: 'id' } });
  });

  test('a 20 MiB body: Node’s fetch reads the 400 with the limit in the message (no EPIPE), five times', async () => {
    const { app } = await api();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const body = Buffer.from(JSON.stringify({ ...submission, code: 'x'.repeat(20 * 1024 * 1024) }));
    // Sent 1 MiB at a time with a pause between, so the server answers long before the client is done
    // sending, as on a real network (on loopback a whole body can fit in the kernel's socket buffers).
    const trickle = () => {
      let offset = 0;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          if (offset >= body.length) return controller.close();
          controller.enqueue(body.subarray(offset, (offset += 1024 * 1024)));
        },
      });
    };
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`http://127.0.0.1:${port}/v1/evaluations`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(i % 2 ? { 'content-length': String(body.length) } : {}),
        },
        body: trickle(),
        duplex: 'half',
      } as RequestInit);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as { error: { code: string; message: string; field: string } };
      expect(answer.error).toMatchObject({ code: 'payload_too_large', field: 'body' });
      expect(answer.error.message).toMatch(/limit of \d+ bytes/);
    }
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

describe('streamFrames', () => {
  test.each([
    ['SSE', SSE, /event: error\ndata: \{"error":\{"code":"slow_consumer"/],
    ['NDJSON', NDJSON, /\{"error":\{"code":"slow_consumer"/],
  ])(
    'a stream dropped on an error ends with an error frame (%s), not like a normal end',
    async (_n, options, last) => {
      const app = Fastify();
      app.get('/s', async (request, reply) =>
        streamFrames(
          request,
          reply,
          new StreamLimiter(1, 1),
          async function* () {
            yield 'first\n';
            throw new CrucibleError('slow_consumer', 'client fell too far behind and was dropped');
          },
          options,
        ),
      );
      const response = await app.inject({ method: 'GET', url: '/s' });
      expect(response.body.startsWith('first\n')).toBe(true);
      expect(response.body).toMatch(last);
      await app.close();
    },
  );
});
