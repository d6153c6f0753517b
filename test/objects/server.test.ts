import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { configInput } from '../../src/cli/commands/serve.js';
import { Crucible } from '../../src/client/index.js';
import { configFromEnv, ServerConfigSchema } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { MemoryLogger } from '../support/in-process.js';
import { describeSandboxed } from '../support/requirements.js';

describeSandboxed('the server with an object store, retention and a disk floor', () => {
  let server: RunningServer;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'crucible-objects-server-'));
    const flags = {
      port: '0',
      dataDir,
      retention: '30d',
      retentionFor: ['label:team=a=7d', 'user:alice=forever'],
      minFreeMb: '1',
      artifactsMb: '2',
      maxLogMb: '8',
    };
    const config = ServerConfigSchema.parse(configInput(configFromEnv({}), flags));
    expect(config.storage).toEqual({
      retention: '30d',
      retentionFor: ['label:team=a=7d', 'user:alice=forever'],
      minFreeMb: 1,
    });
    expect(config.bounds.maxLogMb).toBe(8);
    expect(config.limits.artifactsMb).toBe(2);
    server = await startServer(config, new MemoryLogger());
  });
  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps artifacts under <data-dir>/objects, prunes with its --retention and reports the store', async () => {
    const client = new Crucible({ baseUrl: server.url });
    const evaluation = await client.run({
      language: 'python',
      code: "open('/artifacts/r.txt', 'w').write('kept'); print('ok')",
    });
    expect(evaluation.status).toBe('succeeded');
    expect(evaluation.limits).toMatchObject({ artifactsMb: 2 });
    expect(evaluation.result?.artifacts?.map((a) => a.name)).toEqual(['r.txt']);
    expect(existsSync(join(dataDir, 'objects', 'evaluations', evaluation.id, 'artifacts', 'r.txt'))).toBe(
      true,
    );
    // The server's own --retention is the default age: nothing is that old yet.
    const report = await client.prune({ dryRun: true });
    expect(report).toMatchObject({ evaluations: 0, dryRun: true });
    expect(report.rules.map((rule) => rule.rule)).toEqual(['label:team=a=7d']);
    const metrics = await client.metrics();
    expect(metrics).toMatch(/^crucible_store_bytes \d+/m);
    expect(metrics).toMatch(/^crucible_data_free_bytes \d+/m);
    expect(metrics).toMatch(/^crucible_pruned_evaluations_total 0/m);
  });

  it('refuses an invalid --retention, --retention-for and --object-store naming them', () => {
    const bad = (flags: Record<string, string | string[]>) =>
      ServerConfigSchema.safeParse(configInput(configFromEnv({}), flags)).error?.issues[0];
    expect(bad({ retention: 'forever' })).toMatchObject({ path: ['storage', 'retention'] });
    expect(bad({ retentionFor: ['team=a=7d'] })).toMatchObject({
      path: ['storage', 'retentionFor'],
      message: expect.stringContaining('label:KEY=VALUE=AGE or user:NAME=AGE'),
    });
    expect(bad({ maxLogMb: '-1' })).toMatchObject({ path: ['bounds', 'maxLogMb'] });
    expect(bad({ objectStore: 's3://Bad_Bucket' })).toMatchObject({ path: ['objects', 'url'] });
    expect(bad({ s3Endpoint: 'not a url' })).toMatchObject({ path: ['objects', 's3Endpoint'] });
  });
});
