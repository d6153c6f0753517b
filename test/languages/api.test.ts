import { afterAll, beforeAll, expect, test } from 'vitest';
import type { FastifyInstance } from 'fastify';
import {
  DEFAULT_BOUNDS,
  LANGUAGES,
  languageInfo,
  type LanguageCatalogue,
  type TestRun,
} from '../../src/core/index.js';
import { runCli } from '../support/cli-main.js';
import { FakeRuntime, type FakeRun } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

/** A host where C is not installed: the catalogue is the runtime's, so the API answers from it. */
const catalogue: LanguageCatalogue = {
  list: async () => LANGUAGES.map((l) => languageInfo(l, `${l.id} 1.0`, l.id !== 'c')),
  missing: (id) =>
    id === 'c' ? 'C (GCC) is not installed on this host: run `crucible languages install c`' : null,
};

/** Answers each test with the sum of the two numbers of its stdin, except the ones whose sum is 5. */
function gradedScript(run: FakeRun): void {
  const testRuns: TestRun[] = (run.request.grading?.tests ?? []).map((t) => {
    const [a, b] = (t.stdin ?? '').split(' ').map(Number);
    const sum = (a ?? 0) + (b ?? 0);
    return {
      stdout: sum === 5 ? 'oops\n' : `${sum}\n`,
      stderr: '',
      stdoutTruncated: false,
      exitCode: 0,
      signal: null,
      timedOut: false,
      oomKilled: false,
      durationMs: 3,
    };
  });
  void run.observer.finished({
    kind: 'exited',
    exitCode: 0,
    signal: null,
    timedOut: false,
    oomKilled: false,
    startedAt: run.startedAt,
    finishedAt: new Date(),
    cpuTimeMs: 1,
    peakMemoryBytes: 1,
    memoryEnforcement: 'none',
    compile: {
      succeeded: true,
      output: 'warning: unused\n',
      timedOut: false,
      oomKilled: false,
      durationMs: 9,
    },
    testRuns,
  });
}

let p: InProcess;
let app: FastifyInstance;

beforeAll(async () => {
  const runtime = Object.assign(new FakeRuntime({ script: gradedScript }), { languages: catalogue });
  p = await inProcess({ runtime, bounds: { ...DEFAULT_BOUNDS, maxCodeBytes: 1000 } });
  app = await p.api();
});
afterAll(() => p?.close());

const submit = (body: object) => app.inject({ method: 'POST', url: '/v1/evaluations', payload: body });

test('GET /v1/languages lists every language with its version, and how to install a missing one', async () => {
  const answer = await app.inject({ method: 'GET', url: '/v1/languages' });
  expect(answer.statusCode).toBe(200);
  const { items } = answer.json<{ items: { id: string }[] }>();
  expect(items.map((l) => l.id)).toEqual(LANGUAGES.map((l) => l.id));
  expect(items.find((l) => l.id === 'c')).toEqual({
    id: 'c',
    displayName: 'C (GCC)',
    version: null,
    compiled: true,
    extensions: ['.c'],
    fileName: 'main.c',
    installed: false,
    install: 'crucible languages install c',
  });
  expect(items.find((l) => l.id === 'java')).toMatchObject({ version: 'java 1.0', compiled: true });
  expect(items.find((l) => l.id === 'python')).toMatchObject({ installed: true, compiled: false });
});

test('crucible languages prints the table the server answers, and --json the same items', async () => {
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const table = await runCli(url, ['languages']);
  expect(table.code).toBe(0);
  const lines = table.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^LANGUAGE\s+VERSION\s+KIND\s+EXTENSIONS$/);
  expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(LANGUAGES.map((l) => l.id));
  expect(lines.find((line) => line.startsWith('java '))).toMatch(/java 1\.0\s+compiled\s+\.java$/);
  const json = await runCli(url, ['languages', '--json']);
  const { items } = JSON.parse(json.stdout) as { items: { id: string }[] };
  expect(items).toEqual((await app.inject({ method: 'GET', url: '/v1/languages' })).json().items);
});

test('a language that is not installed answers 400 language_not_installed naming the install command', async () => {
  const answer = await submit({ language: 'c', code: 'int main(){}' });
  expect(answer.statusCode).toBe(400);
  expect(answer.json()).toEqual({
    error: {
      code: 'language_not_installed',
      message: 'C (GCC) is not installed on this host: run `crucible languages install c`',
      field: 'language',
    },
  });
});

test.each([
  ['../escape.py', 'files.0.name', '"." or ".."'],
  ['/etc/passwd', 'files.0.name', 'relative path'],
  ['a/../../b.py', 'files.0.name', '"." or ".."'],
  ['.hidden', 'files.0.name', 'no hidden files'],
  ['main.py', 'files.0.name', 'collides with the entry file main.py'],
])('the file name %s is refused naming %s', async (name, field, message) => {
  const answer = await submit({ language: 'python', code: 'print(1)', files: [{ name, content: 'x' }] });
  expect(answer.statusCode).toBe(400);
  expect(answer.json().error).toMatchObject({ code: 'invalid_request', field });
  expect(answer.json().error.message).toContain(message);
});

test('files are bounded in count and in total size, and the error names the limit', async () => {
  const many = Array.from({ length: 33 }, (_, i) => ({ name: `f${i}.py`, content: '' }));
  const tooMany = await submit({ language: 'python', code: 'print(1)', files: many });
  expect(tooMany.statusCode).toBe(400);
  expect(tooMany.json().error).toMatchObject({ field: 'files', message: 'files: at most 32 files' });

  const big = [
    { name: 'a.py', content: 'x'.repeat(600) },
    { name: 'b.py', content: 'x'.repeat(600) },
  ];
  const tooBig = await submit({ language: 'python', code: 'print(1)', files: big });
  expect(tooBig.statusCode).toBe(400);
  expect(tooBig.json().error.field).toBe('files.1.content');
  expect(tooBig.json().error.message).toContain('limit of 1000 bytes');

  const twice = await submit({
    language: 'python',
    code: 'print(1)',
    files: [
      { name: 'a.py', content: '' },
      { name: 'a.py', content: '' },
    ],
  });
  expect(twice.json().error.field).toBe('files.1.name');
});

test('tests are bounded in count; compare options are checked', async () => {
  const tests = Array.from({ length: 101 }, () => ({ expectedStdout: '' }));
  const tooMany = await submit({ language: 'python', code: 'print(1)', tests });
  expect(tooMany.statusCode).toBe(400);
  expect(tooMany.json().error).toMatchObject({ field: 'tests', message: 'tests: at most 100 tests' });
  const noExpected = await submit({ language: 'python', code: 'print(1)', tests: [{ stdin: '1' }] });
  expect(noExpected.json().error.field).toBe('tests.0.expectedStdout');
  const badCompare = await submit({ language: 'python', code: 'x', compare: { floatTolerance: 2 } });
  expect(badCompare.json().error.field).toBe('compare.floatTolerance');
});

test('a batch item with files or tests is refused (they run one evaluation in stages)', async () => {
  const answer = await app.inject({
    method: 'POST',
    url: '/v1/batches',
    payload: { items: [{ language: 'python', code: 'x', tests: [{ expectedStdout: '' }] }] },
  });
  expect(answer.statusCode).toBe(400);
  expect(answer.json().error.field).toBe('items.0.tests');
});

test('verdicts: failed / tests_failed with passed of total, each test judged, compile output kept', async () => {
  const tests = [
    { stdin: '1 2', expectedStdout: '3\n' },
    { stdin: '2 3', expectedStdout: '5\n' },
    { stdin: '4 4', expectedStdout: '8' },
  ];
  const posted = await submit({
    language: 'python',
    code: 'x',
    tests,
    files: [{ name: 'u.py', content: '' }],
  });
  expect(posted.statusCode).toBe(202);
  const answer = await app.inject({ method: 'GET', url: `/v1/evaluations/${posted.json().id}?wait=10` });
  const evaluation = answer.json();
  expect(evaluation.status).toBe('failed');
  expect(evaluation.result).toMatchObject({
    reason: 'tests_failed',
    passed: 1,
    total: 3,
    compileOutput: 'warning: unused\n',
    message: '1/3 tests passed',
  });
  expect(evaluation.result.tests.map((t: { failure: string | null }) => t.failure)).toEqual([
    null,
    'wrong_answer',
    'wrong_answer',
  ]);
  // The grading is stored with the evaluation: the worker read it back from the store to run it.
  const stored = await p.store.get(evaluation.id);
  expect(stored?.grading).toEqual({ files: [{ name: 'u.py', content: '' }], tests, compare: {} });
});
