import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, test } from 'vitest';
import { evaluationWebhookBody } from '../../src/api/index.js';
import type { EvaluationService } from '../../src/service/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { WebhookDeliveries } from '../../src/webhooks/index.js';
import { FakeRuntime, type FakeRun } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { Attempts, Receiver, SECRET } from '../webhooks/harness.js';

const open: InProcess[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
  for (const r of receivers.splice(0)) await r.close();
});

async function api(options: Partial<Parameters<typeof inProcess>[0]> = {}) {
  const p = await inProcess({ runtime: new FakeRuntime(), concurrency: 16, ...options });
  open.push(p);
  return { p, app: await p.api() };
}

const items = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    language: 'python',
    code: `print(${i})`,
    labels: { n: String(i) },
  }));

type BatchBody = { id: string; total: number; done: boolean; byStatus: Record<string, number> };

describe('POST /v1/batches', () => {
  test('a 1,000-item batch with one bad item answers 400 naming items.N.field, and stores nothing', async () => {
    const { p, app } = await api();
    const batch = items(1000);
    batch[537] = { ...batch[537]!, code: 'x'.repeat(512 * 1024 + 1) };
    const response = await app.inject({ method: 'POST', url: '/v1/batches', payload: { items: batch } });
    expect(response.statusCode).toBe(400);
    const { error } = response.json<{ error: { code: string; message: string; field: string } }>();
    expect(error.field).toBe('items.537.code');
    expect(error.message).toMatch(/items\.537\.code.*524288 bytes/);
    expect(await p.store.latestTransitionSeq()).toBe(0);
    expect((await p.store.list({ limit: 5 })).items).toEqual([]);

    const unknownField = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      payload: { items: [...items(3), { language: 'python', code: '1', colour: 'red' }] },
    });
    expect(unknownField.json<{ error: { field: string } }>().error.field).toBe('items.3.colour');
    const tooMany = await app.inject({ method: 'POST', url: '/v1/batches', payload: { items: items(1001) } });
    expect(tooMany.json<{ error: { field: string; message: string } }>().error).toMatchObject({
      field: 'items',
      message: expect.stringMatching(/at most 1000/),
    });
    expect(await p.store.latestTransitionSeq()).toBe(0);
  });

  test('a valid 1,000-item batch completes with every item accounted for', async () => {
    const runtime = new FakeRuntime();
    const { p, app } = await api({ runtime });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      payload: { items: items(1000), labels: { suite: 'big', n: 'batch' } },
    });
    expect(response.statusCode).toBe(202);
    const { id, evaluationIds } = response.json<{ id: string; evaluationIds: string[] }>();
    expect(response.headers['location']).toBe(`/v1/batches/${id}`);
    expect(evaluationIds).toHaveLength(1000);
    expect(new Set(evaluationIds).size).toBe(1000);
    // Contiguous seqs, in item order.
    const queued = await p.store.transitionsAfter(0, 1000);
    expect(queued.map((t) => t.evaluationId)).toEqual(evaluationIds);
    expect(queued.map((t) => t.seq)).toEqual(evaluationIds.map((_, i) => queued[0]!.seq + i));

    const done = await app.inject({ method: 'GET', url: `/v1/batches/${id}?wait=120` });
    const body = done.json<BatchBody & { labels: Record<string, string> }>();
    expect(body).toMatchObject({ id, total: 1000, done: true, labels: { suite: 'big', n: 'batch' } });
    expect(body.byStatus).toMatchObject({ succeeded: 1000, queued: 0, running: 0, failed: 0 });
    expect(new Set(runtime.started)).toEqual(new Set(evaluationIds));

    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string; labels: Record<string, string> }[]; nextCursor: string | null } = (
        await app.inject({
          method: 'GET',
          url: `/v1/evaluations?batch=${id}&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
        })
      ).json();
      listed.push(...page.items.map((e) => e.id));
      if (listed.length === 500) {
        // An item's own label wins over the batch's: item 999 keeps n=999, and gets suite=big.
        expect(page.items[0]!.labels).toEqual({ suite: 'big', n: '999' });
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed).toEqual([...evaluationIds].reverse());
  });

  test('a batch body may be larger than a single submission may', async () => {
    const { app } = await api();
    // 1,000 × 3 KiB: past the single-submission body limit (code + stdin bounds, about 1.7 MB).
    const big = items(1000).map((item) => ({ ...item, code: `# ${'x'.repeat(3072)}\nprint(1)` }));
    const response = await app.inject({ method: 'POST', url: '/v1/batches', payload: { items: big } });
    expect(response.statusCode).toBe(202);
    const single = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: { language: 'python', code: '1', stdin: 'x'.repeat(3 * 1024 * 1024) },
    });
    expect(single.statusCode).toBe(400);
  });

  test('?wait holds until the last item ends', async () => {
    const runs: FakeRun[] = [];
    let started: () => void = () => undefined;
    const allStarted = new Promise<void>((resolve) => (started = resolve));
    const runtime = new FakeRuntime({
      script: (run) => {
        runs.push(run);
        if (runs.length === 3) started();
      },
    });
    const { app } = await api({ runtime });
    const { id } = (
      await app.inject({ method: 'POST', url: '/v1/batches', payload: { items: items(3) } })
    ).json<{ id: string }>();
    await allStarted;
    let answered = false;
    const waiting = app.inject({ method: 'GET', url: `/v1/batches/${id}?wait=60` }).then((r) => {
      answered = true;
      return r.json<BatchBody>();
    });
    await runs[0]!.exit(0);
    await runs[1]!.exit(1);
    const now = (await app.inject({ method: 'GET', url: `/v1/batches/${id}` })).json<BatchBody>();
    expect(now).toMatchObject({ done: false, byStatus: { succeeded: 1, failed: 1, running: 1 } });
    expect(answered).toBe(false);
    await runs[2]!.exit(0);
    expect(await waiting).toMatchObject({ done: true, byStatus: { succeeded: 2, failed: 1 } });
  });

  test('an Idempotency-Key answers the first batch again, and a different body 409', async () => {
    const { p, app } = await api();
    const post = (payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/v1/batches', payload, headers: { 'idempotency-key': 'k-1' } });
    const first = await post({ items: items(2) });
    const again = await post({ items: items(2) });
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await post({ items: items(3) });
    expect(other.statusCode).toBe(409);
    expect(other.json<{ error: { code: string } }>().error.code).toBe('idempotency_conflict');
    expect((await p.store.list({ limit: 10 })).items).toHaveLength(2);
  });

  test('the OpenAPI document describes the batch calls', async () => {
    const { app } = await api();
    await app.ready();
    const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/v1/batches'] ?? {})).toEqual(['post']);
    expect(Object.keys(doc.paths['/v1/batches/{id}'] ?? {})).toEqual(['get']);
    expect(JSON.stringify(doc.paths['/v1/batches'])).toMatch(/"items"/);
  });

  test('a batch listing takes status as its only other filter, and says so', async () => {
    const { app } = await api();
    for (const extra of ['label=team%3Da', 'project=p', 'user=u']) {
      const response = await app.inject({ method: 'GET', url: `/v1/evaluations?batch=b&${extra}` });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        error: { field: 'batch', message: expect.stringMatching(/status only/) },
      });
    }
  });

  test('another batch id answers 404', async () => {
    const { app } = await api();
    const response = await app.inject({ method: 'GET', url: '/v1/batches/batch_nope' });
    expect(response.statusCode).toBe(404);
    const list = await app.inject({ method: 'GET', url: '/v1/evaluations?batch=batch_nope' });
    expect(list.statusCode).toBe(404);
  });

  test('the batch webhook is delivered once, signed, when every item is done', async () => {
    const receiver = await Receiver.start((_n, response) => void response.writeHead(204).end());
    receivers.push(receiver);
    const attempts = new Attempts();
    const started: { service?: EvaluationService } = {};
    const store = createSqliteStore({ path: ':memory:' });
    await store.migrate();
    const delivering = new WebhookDeliveries({
      store: store.webhooks!,
      owner: 'test-replica',
      secret: SECRET,
      allowPrivate: true,
      payloadOf: async (kind, id) =>
        kind === 'batch'
          ? started.service!.batches!.webhookBody(id)
          : evaluationWebhookBody(started.service!, id),
      log: { warn: () => undefined },
      onAttempt: attempts.onAttempt,
    });
    const { p, app } = await api({ store, webhooks: delivering });
    started.service = p.service;
    const response = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      payload: { items: items(4), webhook: { url: receiver.url } },
    });
    expect(response.statusCode).toBe(202);
    const { id } = response.json<{ id: string }>();
    await attempts.until(1);
    expect((await app.inject({ method: 'GET', url: `/v1/batches/${id}` })).json()).toMatchObject({
      done: true,
    });
    const [request] = receiver.requests;
    expect(receiver.requests).toHaveLength(1);
    expect(request!.headers['webhook-id']).toBe(`msg_batch_${id}`);
    const verified = new Webhook(SECRET.slice('whsec_'.length)).verify(request!.body, request!.headers);
    expect(verified).toMatchObject({ id, total: 4, done: true, byStatus: { succeeded: 4 } });
    const deliveries = await store.webhooks!.deliveriesOf('batch', id);
    expect(deliveries).toEqual([expect.objectContaining({ state: 'delivered', attempts: 1 })]);
    const log = await app.inject({ method: 'GET', url: `/v1/batches/${id}/deliveries` });
    expect(log.statusCode).toBe(200);
    expect(log.json()).toMatchObject({
      webhook: { id: `msg_batch_${id}`, url: receiver.url, state: 'delivered', attempts: 1 },
      items: [{ attempt: 1, statusCode: 204, error: null, nextAttemptAt: null }],
    });
    // Its items' own deliveries are theirs: none here (the items carry no webhook).
    const [first] = (await app.inject({ method: 'GET', url: `/v1/evaluations?batch=${id}` })).json().items;
    expect(
      (await app.inject({ method: 'GET', url: `/v1/evaluations/${first.id}/deliveries` })).json(),
    ).toEqual({ webhook: null, items: [] });
  });
});
