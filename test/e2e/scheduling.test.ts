import { afterEach, expect, it } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import type { EvaluationView } from '../../src/api/views.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer | undefined;

afterEach(async () => {
  if (!server) return;
  await server.stop();
  await removeDataDir(server.dataDir);
  server = undefined;
});

/** A program that holds its slot until cancelled, and a way to know it is running. */
async function submitBlocker(s: TestServer): Promise<string> {
  const blocker = await s.client.submit({ language: 'bash', code: 'echo holding; sleep 60' });
  for await (const line of s.client.logs(blocker.id, true)) {
    expect(line.data).toBe('holding\n');
    break;
  }
  return blocker.id;
}

describeSandboxed('scheduler', () => {
  it('runs high before normal before low, FIFO within a priority', async () => {
    server = await startTestServer({ args: ['--concurrency', '1'] });
    const s = server;
    const blocker = await submitBlocker(s);
    const order = ['low', 'normal', 'high', 'low', 'high', 'normal'] as const;
    const submitted: { id: string; priority: string }[] = [];
    for (const priority of order) {
      const e = await s.client.submit({ language: 'bash', code: 'true', priority });
      submitted.push({ id: e.id, priority });
    }
    const queue = (await (await fetch(`${s.url}/v1/queue`)).json()) as { queued: Record<string, number> };
    expect(queue.queued).toEqual({ high: 2, normal: 2, low: 2 });
    await s.client.cancel(blocker);
    const finals = await Promise.all(submitted.map((e) => s.client.get(e.id, 30)));
    const dispatchOrder = [...finals]
      .sort((a, b) => Date.parse(a.timings.dispatchedAt!) - Date.parse(b.timings.dispatchedAt!))
      .map((e) => submitted.find((x) => x.id === e.id)!);
    expect(dispatchOrder.map((e) => e.priority)).toEqual(['high', 'high', 'normal', 'normal', 'low', 'low']);
    // FIFO within a priority: the earlier submission of each pair went first.
    for (const priority of ['high', 'normal', 'low']) {
      const ofPriority = submitted.filter((e) => e.priority === priority).map((e) => e.id);
      expect(dispatchOrder.filter((e) => e.priority === priority).map((e) => e.id)).toEqual(ofPriority);
    }
  });

  it('never runs more than the concurrency limit at once', async () => {
    server = await startTestServer({ args: ['--concurrency', '2'] });
    const s = server;
    const ids = await Promise.all(
      Array.from(
        { length: 6 },
        async () => (await s.client.submit({ language: 'bash', code: 'sleep 0.2' })).id,
      ),
    );
    const finals: EvaluationView[] = await Promise.all(ids.map((id) => s.client.get(id, 30)));
    expect(finals.every((e) => e.status === 'succeeded')).toBe(true);
    const edges = finals.flatMap((e) => [
      { at: Date.parse(e.timings.dispatchedAt!), delta: 1 },
      { at: Date.parse(e.timings.storedAt!), delta: -1 },
    ]);
    // Releases sort before starts at the same millisecond: a slot is handed on only after it is freed.
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let peak = 0;
    for (const edge of edges) peak = Math.max(peak, (running += edge.delta));
    expect(peak).toBe(2);
  });

  it('cancels a queued evaluation without ever running it', async () => {
    server = await startTestServer({ args: ['--concurrency', '1'] });
    const s = server;
    const blocker = await submitBlocker(s);
    const queued = await s.client.submit({ language: 'bash', code: 'echo should-not-run' });
    const cancelled = await s.client.cancel(queued.id);
    expect(cancelled.status).toBe('cancelled');
    await s.client.cancel(blocker);
    const next = await s.client.submit({ language: 'bash', code: 'echo next' });
    expect((await s.client.get(next.id, 30)).status).toBe('succeeded');
    const final = await s.client.get(queued.id);
    expect(final.status).toBe('cancelled');
    expect(final.timings.dispatchedAt).toBeNull();
    expect(final.result?.stdout).toBe('');
  });
});
