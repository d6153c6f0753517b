import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type { UsageReportSchema } from '../../src/api/routes/usage.js';
import { Crucible, type UsageReport } from '../../src/client/index.js';
import { ScriptedServer, json, type Script } from './scripted-server.js';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(script: Script) {
  const server = ScriptedServer.start(script);
  servers.push(server);
  await server.ready();
  return { server, crucible: new Crucible({ baseUrl: server.url, retry: { attempts: 1 } }) };
}

const report: UsageReport = {
  from: '2026-03-01T00:00:00.000Z',
  to: '2026-03-08T00:00:00.000Z',
  groupBy: 'label:team',
  items: [
    {
      key: 'red',
      evaluations: 2,
      byStatus: { succeeded: 1, failed: 1, timed_out: 0, cancelled: 0, error: 0 },
      wallSeconds: 3,
      cpuSeconds: 1.75,
      memoryMbSeconds: 160,
    },
  ],
};

describe('SDK usage(query)', () => {
  it("has the server's answer type", () => {
    expectTypeOf<z.infer<typeof UsageReportSchema>>().toExtend<UsageReport>();
  });

  it('sends the window (Dates as ISO) and the grouping, and answers the report', async () => {
    const { server, crucible } = await serve((_req, res) => json(res, 200, report));
    const answer = await crucible.usage({
      from: new Date('2026-03-01T00:00:00Z'),
      to: '2026-03-08',
      groupBy: 'label:team',
    });
    expect(answer).toEqual(report);
    expect(await crucible.usage()).toEqual(report);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v1/usage?from=2026-03-01T00%3A00%3A00.000Z&to=2026-03-08&groupBy=label%3Ateam',
      '/v1/usage',
    ]);
  });
});
