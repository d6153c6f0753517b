import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { destinationOf } from '../../src/cli/commands/artifacts.js';
import { Crucible } from '../../src/client/index.js';
import { DEFAULT_LIMITS, type Evaluation } from '../../src/core/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { runCli } from '../support/cli-main.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { describeSandboxed } from '../support/requirements.js';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The program: a PNG, a JSON in a subdirectory, links out of /artifacts, one file over a 1 MiB cap. */
const PROGRAM = `
import base64, json, os
os.makedirs('/artifacts/results', exist_ok=True)
open('/artifacts/plot.png', 'wb').write(base64.b64decode('${PNG.toString('base64')}'))
json.dump({'accuracy': 0.93}, open('/artifacts/results/metrics.json', 'w'))
os.symlink('/etc/passwd', '/artifacts/passwd')
os.symlink('/code/main.py', '/artifacts/code.py')
os.symlink('../..', '/artifacts/up')
open('/artifacts/zz-big.bin', 'wb').write(os.urandom(1536 * 1024))
print('done')
`;

describeSandboxed('artifacts on the local bwrap sandbox', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crucible-artifacts-'));
  let world: InProcess;
  let objects: DirectoryObjectStore;

  beforeAll(async () => {
    objects = new DirectoryObjectStore(join(dir, 'objects'));
    const sandbox = await createSandbox({
      isolation: 'bwrap',
      stateDir: join(dir, 'sandbox'),
      artifactsMb: 8,
    });
    world = await inProcess({
      runtime: createLocalRuntime(sandbox),
      objects,
      defaultLimits: { ...DEFAULT_LIMITS, artifactsMb: 64 },
    });
  });
  afterAll(async () => {
    await world?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(code: string, extra: Record<string, unknown> = {}): Promise<Evaluation> {
    const app = await world.api();
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?wait=60',
      payload: { language: 'python', code, ...extra },
    });
    expect(submitted.statusCode).toBe(202);
    return submitted.json() as Evaluation;
  }

  it('stores regular files with size and SHA-256, serves them byte-identical, never follows a link', async () => {
    const evaluation = await run(PROGRAM, { artifactsMb: 1 });
    expect(evaluation.status).toBe('succeeded');
    const json = Buffer.from(JSON.stringify({ accuracy: 0.93 }).replace(':', ': '));
    expect(evaluation.result?.artifacts).toEqual([
      { name: 'plot.png', size: PNG.length, sha256: sha(PNG) },
      { name: 'results/metrics.json', size: json.length, sha256: sha(json) },
    ]);
    expect(evaluation.result?.artifactsDropped).toEqual([
      { name: 'code.py', size: 0, reason: 'not_regular_file' },
      { name: 'passwd', size: 0, reason: 'not_regular_file' },
      { name: 'up', size: 0, reason: 'not_regular_file' },
      { name: 'zz-big.bin', size: 1536 * 1024, reason: 'over_cap' },
    ]);
    const app = await world.api();
    const list = await app.inject({ method: 'GET', url: `/v1/evaluations/${evaluation.id}/artifacts` });
    expect(list.statusCode).toBe(200);
    expect(list.json().items[0]).toMatchObject({ name: 'plot.png', contentType: 'image/png' });
    const png = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/artifacts/plot.png`,
    });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload).toEqual(PNG);
    const nested = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/artifacts/results/metrics.json`,
      headers: { range: 'bytes=1-10' },
    });
    expect(nested.statusCode).toBe(206);
    expect(nested.headers['content-range']).toBe(`bytes 1-10/${json.length}`);
    expect(nested.rawPayload).toEqual(json.subarray(1, 11));
    const outside = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/artifacts/plot.png`,
      headers: { range: `bytes=${PNG.length}-` },
    });
    expect(outside.statusCode).toBe(416);
    expect(outside.json().error.code).toBe('range_not_satisfiable');
    for (const name of ['passwd', 'code.py', 'zz-big.bin', '../secret']) {
      const missing = await app.inject({
        method: 'GET',
        url: `/v1/evaluations/${evaluation.id}/artifacts/${name}`,
      });
      expect(missing.statusCode).toBe(404);
    }
    // Only the stored files exist in the object store: no link target was ever read.
    expect((await objects.list(`evaluations/${evaluation.id}/`)).map((o) => o.key)).toEqual([
      `evaluations/${evaluation.id}/artifacts/plot.png`,
      `evaluations/${evaluation.id}/artifacts/results/metrics.json`,
    ]);
  });

  it('the SDK lists and downloads them, and crucible artifacts -o DIR writes them byte-identical', async () => {
    const evaluation = await run(PROGRAM, { artifactsMb: 1 });
    const app = await world.api();
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const client = new Crucible(url);
    const list = await client.artifacts(evaluation.id);
    expect(list.items.map((a) => a.name)).toEqual(['plot.png', 'results/metrics.json']);
    const part = await client.artifact(evaluation.id, 'plot.png', { range: { start: 0, end: 7 } });
    const chunks: Buffer[] = [];
    for await (const chunk of part.body) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks)).toEqual(PNG.subarray(0, 8));
    const out = join(dir, 'out');
    const cli = await runCli(url, ['artifacts', evaluation.id, '-o', out]);
    expect(cli.code).toBe(0);
    expect(readFileSync(join(out, 'plot.png'))).toEqual(PNG);
    expect(JSON.parse(readFileSync(join(out, 'results', 'metrics.json'), 'utf8'))).toEqual({
      accuracy: 0.93,
    });
    expect(cli.stderr).toContain('not kept: zz-big.bin (over_cap)');
    expect(destinationOf(out, '../escape')).toBeNull();
    expect(destinationOf(out, 'a/../../b')).toBeNull();
  });

  it('leaves no artifacts key for a program that wrote none, and each run sees an empty /artifacts', async () => {
    const evaluation = await run("import os; print(sorted(os.listdir('/artifacts')))");
    expect(evaluation.status).toBe('succeeded');
    expect(evaluation.result?.artifacts).toBeUndefined();
    const app = await world.api();
    const again = await app.inject({ method: 'GET', url: `/v1/evaluations/${evaluation.id}` });
    expect(again.json().result.stdout).toBe('[]\n');
  });

  it('compiled and graded runs collect the program’s /artifacts too (each test’s under tests/<n>/)', async () => {
    const compiled = await run(
      `#include <stdio.h>
int main(void) {
  FILE *f = fopen("/artifacts/out.txt", "w");
  fputs("from C", f);
  fclose(f);
  puts("ok");
  return 0;
}`,
      { language: 'c' },
    );
    expect(compiled.status).toBe('succeeded');
    expect(compiled.result?.artifacts).toEqual([
      { name: 'out.txt', size: 6, sha256: sha(Buffer.from('from C')) },
    ]);
    const graded = await run(
      "import sys; v = sys.stdin.read().strip(); open('/artifacts/r.txt', 'w').write(v); print(v)",
      {
        tests: [
          { stdin: 'one', expectedStdout: 'one\n' },
          { stdin: 'two', expectedStdout: 'two\n' },
        ],
      },
    );
    expect(graded.status).toBe('succeeded');
    expect(graded.result?.artifacts).toEqual([
      { name: 'tests/1/r.txt', size: 3, sha256: sha(Buffer.from('one')) },
      { name: 'tests/2/r.txt', size: 3, sha256: sha(Buffer.from('two')) },
    ]);
    const app = await world.api();
    const second = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${graded.id}/artifacts/tests/2/r.txt`,
    });
    expect(second.rawPayload.toString()).toBe('two');
  });

  it('refuses an artifactsMb above the bound naming the field', async () => {
    const app = await world.api();
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: { language: 'python', code: 'print(1)', artifactsMb: 5000 },
    });
    expect(answer.statusCode).toBe(400);
    expect(answer.json().error.field).toBe('artifactsMb');
  });
});
