import { expect, test } from 'vitest';
import { fileNameProblem, judgeTest, outputMatches, type TestRun } from '../../src/core/index.js';
import { gradeOutcome } from '../../src/core/verdicts.js';

test('comparison is exact by default', () => {
  expect(outputMatches('1\n', '1\n', {})).toBe(true);
  expect(outputMatches('1', '1\n', {})).toBe(false);
  expect(outputMatches('1 \n', '1\n', {})).toBe(false);
});

test('trimTrailingWhitespace ignores spaces at line ends and newlines at the end', () => {
  const o = { trimTrailingWhitespace: true };
  expect(outputMatches('1  \n2\t\n\n\n', '1\n2', o)).toBe(true);
  expect(outputMatches(' 1\n', '1\n', o)).toBe(false);
});

test('ignoreCase, tokens and floatTolerance', () => {
  expect(outputMatches('YES\n', 'yes\n', { ignoreCase: true })).toBe(true);
  expect(outputMatches('1   2\n\n3', '1 2 3\n', { tokens: true })).toBe(true);
  expect(outputMatches('1 2', '1 2 3', { tokens: true })).toBe(false);
  expect(outputMatches('0.3333', '0.33333333', { tokens: true, floatTolerance: 1e-3 })).toBe(true);
  expect(outputMatches('0.34', '0.33333333', { tokens: true, floatTolerance: 1e-3 })).toBe(false);
});

test('file names: relative, no traversal, no hidden files, not the entry file', () => {
  expect(fileNameProblem('lib/util.py', 'main.py')).toBeNull();
  expect(fileNameProblem('/abs', 'main.py')).toContain('relative');
  expect(fileNameProblem('a/../b', 'main.py')).toContain('..');
  expect(fileNameProblem('a//b', 'main.py')).toContain('may contain only');
  expect(fileNameProblem('x'.repeat(129), 'main.py')).toContain('128');
  expect(fileNameProblem('Main.java', 'Main.java')).toContain('collides');
});

const run = (over: Partial<TestRun> = {}): TestRun => ({
  stdout: '3\n',
  stderr: '',
  stdoutTruncated: false,
  exitCode: 0,
  signal: null,
  timedOut: false,
  oomKilled: false,
  durationMs: 1,
  ...over,
});

test('a test fails on timeout, memory, signal and exit code before its output is compared', () => {
  const t = { expectedStdout: '3\n' };
  expect(judgeTest(run(), t, {}).failure).toBeNull();
  expect(judgeTest(run({ timedOut: true }), t, {}).failure).toBe('timeout');
  expect(judgeTest(run({ oomKilled: true }), t, {}).failure).toBe('oom');
  expect(judgeTest(run({ signal: 'SIGSEGV', exitCode: null }), t, {}).failure).toBe('signal');
  expect(judgeTest(run({ exitCode: 1 }), t, {}).failure).toBe('exit_code');
  expect(judgeTest(run({ stdout: '4\n' }), t, {}).failure).toBe('wrong_answer');
});

test('a failed compile ends failed / compile_error whatever the tests say', () => {
  const classified = { status: 'failed' as const, result: { reason: 'exit_code' } as never };
  const outcome = {
    kind: 'exited' as const,
    exitCode: 1,
    signal: null,
    timedOut: false,
    oomKilled: false,
    startedAt: new Date(0),
    finishedAt: new Date(5),
    cpuTimeMs: null,
    peakMemoryBytes: null,
    memoryEnforcement: 'cgroup' as const,
    compile: { succeeded: false, output: 'main.c:1: error', timedOut: true, oomKilled: false, durationMs: 5 },
  };
  const graded = gradeOutcome(classified, outcome, {
    files: [],
    tests: [{ expectedStdout: '' }],
    compare: {},
  });
  expect(graded.status).toBe('failed');
  expect(graded.result).toMatchObject({
    reason: 'compile_error',
    compileOutput: 'main.c:1: error',
    message: 'the compiler exceeded its time limit',
  });
});

test('tests not reached are not_run, and all passing succeeds', () => {
  const base = {
    kind: 'exited' as const,
    exitCode: 0,
    signal: null,
    timedOut: false,
    oomKilled: false,
    startedAt: new Date(0),
    finishedAt: new Date(5),
    cpuTimeMs: null,
    peakMemoryBytes: null,
    memoryEnforcement: 'cgroup' as const,
  };
  const classified = { status: 'succeeded' as const, result: { reason: null } as never };
  const grading = { files: [], tests: [{ expectedStdout: '3\n' }, { expectedStdout: '3\n' }], compare: {} };
  const partial = gradeOutcome(classified, { ...base, testRuns: [run()] }, grading);
  expect(partial.status).toBe('failed');
  expect(partial.result.tests?.map((t) => t.failure)).toEqual([null, 'not_run']);
  const all = gradeOutcome(classified, { ...base, testRuns: [run(), run()] }, grading);
  expect(all.status).toBe('succeeded');
  expect(all.result).toMatchObject({ passed: 2, total: 2, reason: null });
});
