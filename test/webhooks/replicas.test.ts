import { afterEach, expect, it } from 'vitest';
import { describePostgres, TestSchemas } from '../support/postgres.js';
import { Receiver, webhookServer } from './harness.js';

const schemas = new TestSchemas();
let receiver: Receiver | undefined;
const servers: Awaited<ReturnType<typeof webhookServer>>[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  await receiver?.close();
  await schemas.dropAll();
});

describePostgres('webhooks on two replicas sharing PostgreSQL', () => {
  it('delivers a batch once, whichever replica ends its last item', async () => {
    const { first, a, b } = await twoReplicas();
    const batches = [];
    for (let round = 0; round < 3; round++) {
      const items = Array.from({ length: 30 }, (_, i) => ({ language: 'python', code: `print(${i})` }));
      const [here, there] = round % 2 ? [b, a] : [a, b];
      const submitted = await here.service.batches!.submit({ items, webhook: { url: receiver!.url } });
      // A submission on the other replica wakes its claim loop too (the replicas share no bus here): both
      // claim and run the batch's items, so either may write its last terminal transition.
      await there.service.submit({ language: 'python', code: 'print("wake")' });
      batches.push(submitted.id);
    }
    await waitForAll(a, b, batches.length);
    const delivered = receiver!.requests.map((r) => r.headers['webhook-id']).sort();
    expect(delivered).toEqual(batches.map((id) => `msg_batch_${id}`).sort());
    for (const id of batches) {
      const [body] = receiver!.requests.filter((r) => r.headers['webhook-id'] === `msg_batch_${id}`);
      expect(JSON.parse(body!.body)).toMatchObject({
        id,
        total: 30,
        done: true,
        byStatus: { succeeded: 30 },
      });
      expect(await first.webhooks!.deliveriesOf('batch', id)).toHaveLength(1);
    }
  });

  it('delivers each evaluation once though both replicas keep claiming', async () => {
    const { a, b } = await twoReplicas();
    const total = 20;
    const ids: string[] = [];
    for (let i = 0; i < total; i++) {
      const service = i % 2 === 0 ? a.service : b.service;
      const { evaluation } = await service.submit({
        language: 'python',
        code: `print(${i})`,
        webhook: { url: receiver!.url },
      });
      ids.push(evaluation.id);
    }
    await waitForAll(a, b, total);
    const deliveredIds = receiver!.requests.map((r) => r.headers['webhook-id']);
    expect(deliveredIds.sort()).toEqual(ids.map((id) => `msg_${id}`).sort());
    expect(a.attempts.records.length + b.attempts.records.length).toBe(total);
  });
});

/**
 * Two replicas on one PostgreSQL schema, each with its webhook sender; both look at the outbox every 20 ms,
 * so both race for every delivery. The receiver answers 204.
 */
async function twoReplicas() {
  receiver = await Receiver.start((_n, response) => response.writeHead(204).end());
  const first = schemas.store();
  const sender = { pollMs: 20 };
  const a = await webhookServer(first, sender, 'replica-a');
  servers.push(a);
  const b = await webhookServer(schemas.sibling(first), sender, 'replica-b');
  servers.push(b);
  return { first, a, b };
}

/** Resolves once the two replicas stored `total` attempts between them. */
async function waitForAll(
  a: Awaited<ReturnType<typeof webhookServer>>,
  b: Awaited<ReturnType<typeof webhookServer>>,
  total: number,
): Promise<void> {
  for (;;) {
    const seen = a.attempts.records.length + b.attempts.records.length;
    if (seen >= total) return;
    await Promise.race([
      a.attempts.until(a.attempts.records.length + 1),
      b.attempts.until(b.attempts.records.length + 1),
    ]);
  }
}
