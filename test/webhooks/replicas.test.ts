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
  it('delivers each evaluation once though both replicas keep claiming', async () => {
    receiver = await Receiver.start((_n, response) => response.writeHead(204).end());
    const first = schemas.store();
    const second = schemas.sibling(first);
    // Both look at the outbox every 20 ms, so both race for every delivery.
    const sender = { pollMs: 20 };
    const a = await webhookServer(first, sender, 'replica-a');
    servers.push(a);
    const b = await webhookServer(second, sender, 'replica-b');
    servers.push(b);
    const total = 20;
    const ids: string[] = [];
    for (let i = 0; i < total; i++) {
      const service = i % 2 === 0 ? a.service : b.service;
      const { evaluation } = await service.submit({
        language: 'python',
        code: `print(${i})`,
        webhook: { url: receiver.url },
      });
      ids.push(evaluation.id);
    }
    await waitForAll(a, b, total);
    const deliveredIds = receiver.requests.map((r) => r.headers['webhook-id']);
    expect(deliveredIds.sort()).toEqual(ids.map((id) => `msg_${id}`).sort());
    expect(a.attempts.records.length + b.attempts.records.length).toBe(total);
  });
});

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
