import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Crucible, type LogLine } from '../../src/client/index.js';
import { DEFAULT_BOUNDS, DEFAULT_LIMITS, type Evaluation } from '../../src/core/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { eventually } from '../runtime/tracked.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { describeSandboxed } from '../support/requirements.js';

const MiB = 1024 * 1024;
/** 64-byte numbered lines: any lost, repeated or reordered byte changes the hash. */
const line = (i: number) => `${String(i).padStart(8, '0')} ${'x'.repeat(54)}\n`;
const printLines = (count: number, stream = 'stdout') => `
import sys
out = sys.${stream}.buffer
for start in range(0, ${count}, 4096):
    out.write(''.join('%08d %s\\n' % (i, 'x' * 54) for i in range(start, min(${count}, start + 4096))).encode())
out.flush()
print('done', file=sys.stderr)
`;
function expectedHash(count: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++) hash.update(line(i));
  return hash.digest('hex');
}
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (l: LogLine) =>
  Buffer.from(l.data ?? l.base64 ?? '', l.data === undefined ? 'base64' : 'utf8');

describeSandboxed('output past the inline cap kept in the object store (maxLogBytes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crucible-long-logs-'));
  let world: InProcess;
  let objects: DirectoryObjectStore;

  beforeAll(async () => {
    objects = new DirectoryObjectStore(join(dir, 'objects'));
    const sandbox = await createSandbox({ isolation: 'bwrap', stateDir: join(dir, 'sandbox') });
    world = await inProcess({
      runtime: createLocalRuntime(sandbox),
      objects,
      defaultLimits: { ...DEFAULT_LIMITS, memoryMb: 512 },
      bounds: { ...DEFAULT_BOUNDS, maxLogMb: 64 },
    });
  });
  afterAll(async () => {
    await world?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(code: string, extra: Record<string, unknown>): Promise<Evaluation> {
    const app = await world.api();
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?wait=120',
      payload: { language: 'python', code, ...extra },
    });
    expect(submitted.statusCode).toBe(202);
    return submitted.json() as Evaluation;
  }

  it('a 50 MiB stdout with maxLogBytes 64 MiB is read back whole, through the API and the SDK', async () => {
    const count = (50 * MiB) / 64;
    const evaluation = await run(printLines(count), { maxLogBytes: 64 * MiB });
    expect(evaluation.status).toBe('succeeded');
    expect(evaluation.limits.maxLogBytes).toBe(64 * MiB);
    expect(evaluation.result).toMatchObject({
      stdoutTruncated: false,
      stderrTruncated: false,
      logSpill: { stdout: 49 * MiB, stderr: 0, chunkBytes: 256 * 1024 },
    });
    // The database holds the inline prefix only.
    const stored = await world.store.readLogs(evaluation.id);
    expect(stored.reduce((sum, c) => sum + c.data.length, 0)).toBe(MiB + 'done\n'.length);
    expect((await objects.head(`evaluations/${evaluation.id}/logs/stdout`))?.size).toBe(49 * MiB);

    const app = await world.api();
    const all = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/logs?stream=stdout`,
    });
    expect(all.statusCode).toBe(200);
    const lines = all.body
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as LogLine);
    const seqs = lines.map((l) => l.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(sha(Buffer.concat(lines.map(bytesOf)))).toBe(expectedHash(count));

    // `after=` a seq inside the spilled part resumes there: the rest, nothing repeated.
    const spillStart = evaluation.result!.logSpill!.afterSeq;
    const cut = spillStart + 100;
    const rest = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/logs?after=${cut}`,
    });
    const restLines = rest.body
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as LogLine);
    expect(restLines[0]!.seq).toBe(cut + 1);
    expect(Buffer.concat(restLines.map(bytesOf)).length).toBe(49 * MiB - 100 * 256 * 1024);

    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const client = new Crucible(url);
    const followed: Buffer[] = [];
    for await (const l of client.logs(evaluation.id, { follow: true, stream: 'stdout' }))
      followed.push(bytesOf(l));
    expect(sha(Buffer.concat(followed))).toBe(expectedHash(count));
  }, 180_000);

  it('keeps maxLogBytes per stream and flags what is past it truncated; without it nothing is spilled', async () => {
    const count = (3 * MiB) / 64;
    const capped = await run(printLines(count, 'stderr'), { maxLogBytes: 2 * MiB });
    expect(capped.result).toMatchObject({ stderrTruncated: true, logSpill: { stdout: 0, stderr: MiB } });
    const app = await world.api();
    const logs = await app.inject({ method: 'GET', url: `/v1/evaluations/${capped.id}/logs?stream=stderr` });
    const text = logs.body
      .trim()
      .split('\n')
      .map((t) => bytesOf(JSON.parse(t) as LogLine));
    expect(
      Buffer.concat(text)
        .subarray(0, 2 * MiB)
        .toString(),
    ).toBe(Array.from({ length: (2 * MiB) / 64 }, (_, i) => line(i)).join(''));
    const plain = await run(printLines(count), {});
    expect(plain.result?.stdoutTruncated).toBe(true);
    expect(plain.result?.logSpill).toBeUndefined();
    expect(await objects.list(`evaluations/${plain.id}/`)).toEqual([]);
  }, 120_000);

  it('a cancelled run keeps its inline prefix and leaves no spill file behind', async () => {
    const spillDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith('crucible-log-'));
    const before = spillDirs();
    const app = await world.api();
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: {
        language: 'python',
        code: "import sys, time\nsys.stdout.write('q' * (3 * 1024 * 1024)); sys.stdout.flush(); time.sleep(60)",
        maxLogBytes: 8 * MiB,
      },
    });
    const { id } = submitted.json() as Evaluation;
    // The spill file appears once the output past the first MiB has arrived.
    await eventually(() => spillDirs().some((name) => !before.includes(name)), 30_000);
    const cancelled = await app.inject({ method: 'DELETE', url: `/v1/evaluations/${id}` });
    expect(cancelled.json().status).toBe('cancelled');
    await eventually(() => spillDirs().every((name) => before.includes(name)), 10_000);
    const ended = await app.inject({ method: 'GET', url: `/v1/evaluations/${id}` });
    expect(ended.json().result.logSpill).toBeUndefined();
    expect(ended.json().result.stdout.length).toBe(MiB);
    expect(await objects.list(`evaluations/${id}/`)).toEqual([]);
  }, 60_000);

  it('answers 400 naming maxLogBytes and the bound when a submission asks for more', async () => {
    const app = await world.api();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: { language: 'python', code: 'print(1)', maxLogBytes: 65 * MiB },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ field: 'maxLogBytes' });
    expect(response.json().error.message).toContain(`maxLogBytes must be between 0 and ${64 * MiB}`);
  });
});
