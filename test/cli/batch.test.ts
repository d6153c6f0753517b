import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-main.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

let harness: InProcess;
let url: string;
let dir: string;

beforeAll(async () => {
  // A program "fails" when its code says so.
  const runtime = new FakeRuntime({
    script: (run) => void run.exit(run.request.code.includes('fail') ? 3 : 0),
  });
  harness = await inProcess({ runtime, concurrency: 8 });
  url = await (await harness.api()).listen({ host: '127.0.0.1', port: 0 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-cli-batch-'));
});
afterAll(async () => {
  await harness?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `crucible --url URL …args` in-process (stderr is not a terminal here). */
function crucible(...args: string[]) {
  return runCli(url, args);
}

async function jsonl(name: string, lines: readonly string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

const line = (code: string, extra: object = {}) => JSON.stringify({ language: 'python', code, ...extra });

describe('crucible run --batch', () => {
  it('sends 1,200 lines as two batches, shows progress, then the summary; exits 1 naming what failed', async () => {
    const lines = Array.from({ length: 1200 }, (_, i) =>
      line(i === 7 || i === 1100 ? 'fail' : `print(${i})`),
    );
    lines.splice(500, 0, ''); // a blank line is skipped, and counts for the line numbers
    const file = await jsonl('mixed.jsonl', lines);
    const run = await crucible('run', '--batch', file, '--label', 'suite=cli');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/submitted 1200 items in batch_\S+, batch_\S+\n/);
    expect(run.stderr).toContain('1200/1200 done\n');
    expect(run.stdout).toMatch(/^status\s+items\nsucceeded\s+1198\nfailed\s+2\n/);
    const failedIds = [...run.stdout.matchAll(/^(\d+)\s+failed\s+(\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(failedIds.map(([n]) => n)).toEqual(['8', '1102']);
    const labelled = await harness.store.list({ label: { key: 'suite', value: 'cli' }, limit: 5 });
    expect(labelled.items).toHaveLength(5);
    const failed = await harness.store.get(failedIds[0]![1]!);
    expect(failed?.status).toBe('failed');
  });

  it('exits 0 when every item succeeded', async () => {
    const file = await jsonl('fine.jsonl', [line('print(1)'), line('print(2)')]);
    const run = await crucible('run', '--batch', file);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('status     items\nsucceeded  2\n');
  });

  it('reports a bad line with its number and sends nothing', async () => {
    const before = await harness.store.latestTransitionSeq();
    const file = await jsonl('bad.jsonl', [
      line('print(1)'),
      line('print(2)'),
      '{"language": "python", "code": ',
    ]);
    const run = await crucible('run', '--batch', file);
    expect(run.code).toBe(125);
    expect(run.stderr).toMatch(/bad\.jsonl:3: not JSON .*nothing was sent/);
    const missing = await jsonl('no-code.jsonl', [line('print(1)'), JSON.stringify({ language: 'python' })]);
    expect((await crucible('run', '--batch', missing)).stderr).toMatch(
      /no-code\.jsonl:2: "code" must be a string/,
    );
    expect(await harness.store.latestTransitionSeq()).toBe(before);
  });

  it('names the line of an item the server refuses', async () => {
    const file = await jsonl('refused.jsonl', [line('print(1)'), line('print(2)', { memoryMb: 1 })]);
    const run = await crucible('run', '--batch', file);
    expect(run.code).toBe(125);
    expect(run.stderr).toMatch(/line 2 \(memoryMb\): items\.1\.memoryMb: .*nothing was sent/);
  });
});
