import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type { DeliveriesSchema } from '../../src/api/routes/webhooks.js';
import type { QueueSchema } from '../../src/api/schemas.js';
import type { EvaluationView, ListItemView } from '../../src/api/views.js';
import {
  Crucible,
  type Evaluation,
  type EvaluationSummary,
  type QueueStats,
  type WebhookDeliveries,
} from '../../src/client/index.js';
import { ScriptedServer, evaluation, json, type Script } from './scripted-server.js';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(script: Script, token?: string) {
  const server = ScriptedServer.start(script);
  servers.push(server);
  await server.ready();
  const crucible = new Crucible({ baseUrl: `${server.url}/`, retry: { attempts: 2, baseDelayMs: 5 }, token });
  return { server, crucible };
}

describe('SDK calls', () => {
  it('the SDK’s types describe what the server answers', () => {
    expectTypeOf<EvaluationView>().toExtend<Evaluation>();
    expectTypeOf<ListItemView>().toExtend<EvaluationSummary>();
    expectTypeOf<z.infer<typeof DeliveriesSchema>>().toExtend<WebhookDeliveries>();
    expectTypeOf<z.infer<typeof QueueSchema>>().toExtend<QueueStats>();
  });

  it('reads an evaluation’s webhook deliveries', async () => {
    const log = {
      webhook: {
        id: 'msg_a',
        url: 'https://x/h',
        state: 'pending',
        attempts: 1,
        nextAttemptAt: 't2',
        createdAt: 't0',
      },
      items: [{ attempt: 1, at: 't1', statusCode: 500, error: null, durationMs: 3, nextAttemptAt: 't2' }],
    };
    const { server, crucible } = await serve((_req, res) => json(res, 200, log));
    expect(await crucible.deliveries('a/b')).toEqual(log);
    expect(server.requests.map((r) => r.url)).toEqual(['/v1/evaluations/a%2Fb/deliveries']);
  });

  it('lists every page, following nextCursor', async () => {
    const { server, crucible } = await serve((req, res) => {
      const cursor = new URL(req.url, 'http://x').searchParams.get('cursor');
      if (!cursor)
        json(res, 200, { items: [evaluation({ id: 'a' }), evaluation({ id: 'b' })], nextCursor: 'c1' });
      else json(res, 200, { items: [evaluation({ id: 'c' })], nextCursor: null });
    });
    const ids: string[] = [];
    for await (const e of crucible.listAll({ status: 'succeeded', limit: 2 })) ids.push(e.id);
    expect(ids).toEqual(['a', 'b', 'c']);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v1/evaluations?status=succeeded&limit=2',
      '/v1/evaluations?status=succeeded&limit=2&cursor=c1',
    ]);
  });

  it('waits with ?wait= until the evaluation is terminal', async () => {
    const { server, crucible } = await serve((_req, res, i) =>
      json(res, 200, evaluation({ status: i < 2 ? 'running' : 'failed' })),
    );
    expect((await crucible.wait('ev_1')).status).toBe('failed');
    expect(server.requests.map((r) => r.url)).toEqual(Array(3).fill('/v1/evaluations/ev_1?wait=300'));
  });

  it('answers readiness while the server starts instead of retrying it', async () => {
    const { server, crucible } = await serve((_req, res) => json(res, 503, { status: 'starting' }));
    expect(await crucible.ready()).toEqual({ status: 'starting' });
    expect(server.requests).toHaveLength(1);
  });

  it('cancels with DELETE, reads transitions, escapes ids and sends the token', async () => {
    const { server, crucible } = await serve((req, res) => {
      if (req.method === 'DELETE') json(res, 200, evaluation({ status: 'cancelled' }));
      else
        json(res, 200, {
          items: [{ seq: 1, evaluationId: 'a/b', from: null, to: 'queued', at: 't', reason: null }],
        });
    }, 'secret-token');
    expect((await crucible.cancel('a/b')).status).toBe('cancelled');
    expect((await crucible.transitions('a/b')).map((t) => t.to)).toEqual(['queued']);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'DELETE /v1/evaluations/a%2Fb',
      'GET /v1/evaluations/a%2Fb/transitions',
    ]);
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer secret-token')).toBe(true);
  });

  it('run submits, streams the output and answers the terminal evaluation it saw at the end', async () => {
    const { server, crucible } = await serve((req, res) => {
      if (req.method === 'POST') return json(res, 202, evaluation({ id: 'ev_run' }));
      if (req.url === '/v1/evaluations/ev_run')
        return json(res, 200, evaluation({ id: 'ev_run', status: 'failed' }));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const follow = new URL(req.url, 'http://x').searchParams.get('follow') === 'true';
      res.end(follow ? `${JSON.stringify({ seq: 1, stream: 'stdout', at: 't', data: 'hi\n' })}\n` : '');
    });
    const submitted: string[] = [];
    const output: string[] = [];
    const final = await crucible.run(
      { language: 'python', code: 'print("hi")' },
      { onSubmitted: (e) => submitted.push(e.id), onOutput: (line) => output.push(line.data ?? '') },
    );
    expect(final).toMatchObject({ id: 'ev_run', status: 'failed' });
    expect(submitted).toEqual(['ev_run']);
    expect(output).toEqual(['hi\n']);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/evaluations',
      'GET /v1/evaluations/ev_run/logs?follow=true&stream=all',
      'GET /v1/evaluations/ev_run',
      'GET /v1/evaluations/ev_run/logs?follow=false&stream=all&after=1',
    ]);
  });
  it('run without onOutput is one POST ?wait=300; the id comes from Location before the body', async () => {
    let release = (): void => undefined;
    const { server, crucible } = await serve((_req, res) => {
      res.writeHead(202, { location: '/v1/evaluations/ev_w', 'content-type': 'application/json' });
      res.flushHeaders();
      release = () => res.end(JSON.stringify(evaluation({ id: 'ev_w', status: 'succeeded' })));
    });
    const final = crucible.run(
      { language: 'python', code: 'x' },
      {
        onSubmitted: ({ id }) => {
          expect(id).toBe('ev_w');
          release();
        },
      },
    );
    expect(await final).toMatchObject({ id: 'ev_w', status: 'succeeded' });
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1/evaluations?wait=300']);
    expect(server.requests[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('run asks again by id when the held body is cut short, or is not terminal yet', async () => {
    const { server, crucible } = await serve((req, res, i) => {
      if (req.method === 'POST' && i === 0) {
        res.writeHead(202, { location: '/v1/evaluations/ev_cut', 'content-type': 'application/json' });
        // Headers and half a body reach the client before the connection drops (TCP keeps the order).
        return void res.write('{"id":"ev_c', () => res.destroy());
      }
      if (req.method === 'POST') return json(res, 202, evaluation({ id: 'ev_slow', status: 'running' }));
      json(res, 200, evaluation({ id: req.url.split('/')[3]!.split('?')[0]!, status: 'succeeded' }));
    });
    expect(await crucible.run({ language: 'python', code: 'x' })).toMatchObject({ id: 'ev_cut' });
    expect(await crucible.run({ language: 'python', code: 'x' })).toMatchObject({ id: 'ev_slow' });
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/evaluations?wait=300',
      'GET /v1/evaluations/ev_cut?wait=300',
      'POST /v1/evaluations?wait=300',
      'GET /v1/evaluations/ev_slow?wait=300',
    ]);
  });
});
