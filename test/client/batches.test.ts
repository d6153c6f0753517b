import { afterEach, describe, expect, expectTypeOf, test } from 'vitest';
import type { z } from 'zod';
import type { BatchSchema, SubmittedBatchSchema } from '../../src/api/routes/batches.js';
import { Crucible, CrucibleError, type Batch, type SubmittedBatch } from '../../src/client/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

async function client(): Promise<Crucible> {
  const p = await inProcess({
    runtime: new FakeRuntime({ script: (run) => void run.exit(run.request.code === 'fail' ? 1 : 0) }),
  });
  open.push(p);
  const app = await p.api();
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return new Crucible({ baseUrl: address, retry: { attempts: 1 } });
}

describe('SDK batches', () => {
  test('the SDK’s batch types describe what the server answers', () => {
    expectTypeOf<z.infer<typeof BatchSchema>>().toExtend<Batch>();
    expectTypeOf<z.infer<typeof SubmittedBatchSchema>>().toExtend<SubmittedBatch>();
  });

  test('submitBatch, waitBatch and list({ batch }) against a real server', async () => {
    const crucible = await client();
    const items = [
      { language: 'python', code: 'ok' },
      { language: 'python', code: 'fail', labels: { team: 'b' } },
      { language: 'python', code: 'ok' },
    ];
    const submitted = await crucible.submitBatch(items, { labels: { team: 'a' }, idempotencyKey: 'sdk-1' });
    expect(submitted.evaluationIds).toHaveLength(3);
    expect(await crucible.submitBatch(items, { labels: { team: 'a' }, idempotencyKey: 'sdk-1' })).toEqual(
      submitted,
    );
    const done = await crucible.waitBatch(submitted.id);
    expect(done).toMatchObject({ id: submitted.id, total: 3, done: true, labels: { team: 'a' } });
    expect(done.byStatus).toMatchObject({ succeeded: 2, failed: 1 });
    const failed = await crucible.list({ batch: submitted.id, status: 'failed' });
    expect(failed.items.map((e) => [e.id, e.labels])).toEqual([[submitted.evaluationIds[1], { team: 'b' }]]);
    expect((await crucible.batch(submitted.id)).done).toBe(true);
  });

  test('a bad item throws CrucibleError naming items.N.field', async () => {
    const crucible = await client();
    const error = await crucible
      .submitBatch([
        { language: 'python', code: 'ok' },
        { language: 'cobol', code: 'x' },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrucibleError);
    expect(error).toMatchObject({ status: 400, field: 'items.1.language' });
  });
});
