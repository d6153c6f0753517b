/**
 * Multi-file programs and test cases: what a submission may carry beside `code`, how a test's output is
 * compared with what was expected, and the verdicts. Pure: the runtimes run the tests, this file judges them.
 */

/** A file written beside the entry file in the sandbox's `/code` directory. */
export interface ProgramFile {
  readonly name: string;
  readonly content: string;
}

export interface TestCase {
  readonly stdin?: string;
  readonly expectedStdout: string;
}

/**
 * How a test's stdout is compared with `expectedStdout`. Exact by default; the options follow Judge0's and
 * Codeforces' usual checkers and combine (each is applied to both sides).
 */
export interface CompareOptions {
  /** Ignore trailing spaces and tabs on every line and trailing newlines at the end. */
  readonly trimTrailingWhitespace?: boolean;
  /** Compare case-insensitively. */
  readonly ignoreCase?: boolean;
  /** Compare the whitespace-separated tokens only (Codeforces' `wcmp`): any run of whitespace is one. */
  readonly tokens?: boolean;
  /** With `tokens`: numeric tokens match when their absolute or relative difference is at most this. */
  readonly floatTolerance?: number;
}

/** What a submission asks for beside its entry file; stored with the evaluation. */
export interface Grading {
  readonly files: readonly ProgramFile[];
  readonly tests: readonly TestCase[];
  readonly compare: CompareOptions;
}

/** What a runtime observed for one test run (facts, no verdict). */
export interface TestRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutTruncated: boolean;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly durationMs: number;
}

export const TEST_FAILURES = ['wrong_answer', 'exit_code', 'signal', 'timeout', 'oom', 'not_run'] as const;
export type TestFailure = (typeof TEST_FAILURES)[number];

export interface TestVerdict extends TestRun {
  readonly passed: boolean;
  /** Why it failed; null when it passed. */
  readonly failure: TestFailure | null;
}

/** What the compile stage observed; absent for interpreted languages. */
export interface CompileFacts {
  readonly succeeded: boolean;
  /** The compiler's stdout and stderr, interleaved as written, capped at `MAX_COMPILE_OUTPUT_BYTES`. */
  readonly output: string;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly durationMs: number;
}

export const GRADING_BOUNDS = {
  maxFiles: 32,
  maxFileNameLength: 128,
  maxTests: 100,
  /** Kept of each test's stdout and stderr in the result (the result holds every test's). */
  maxTestOutputBytes: 64 * 1024,
  maxCompileOutputBytes: 64 * 1024,
} as const;

const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;

/**
 * Why a file name cannot be used, or null. Names are relative paths below `/code`: letters, digits, `_`,
 * `.`, `-` and `/` between segments; no absolute path, no `..` or `.` segment, no hidden files, no
 * collision with the entry file.
 */
export function fileNameProblem(name: string, entryFileName: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > GRADING_BOUNDS.maxFileNameLength) {
    return `must be at most ${GRADING_BOUNDS.maxFileNameLength} characters`;
  }
  if (name.startsWith('/')) return 'must be a relative path (no leading "/")';
  if (name.split('/').some((segment) => segment === '..' || segment === '.')) {
    return 'must not contain "." or ".." segments';
  }
  if (!FILE_NAME.test(name)) {
    return 'may contain only letters, digits, "_", ".", "-" and "/" between names (no hidden files)';
  }
  if (name === entryFileName) return `collides with the entry file ${entryFileName} (that is \`code\`)`;
  return null;
}

/** Applies the comparison options and says whether `actual` matches `expected`. */
export function outputMatches(actual: string, expected: string, options: CompareOptions): boolean {
  const normalize = (text: string): string => {
    let out = options.ignoreCase ? text.toLowerCase() : text;
    if (options.trimTrailingWhitespace) out = out.replace(/[ \t]+$/gm, '').replace(/\n+$/, '');
    return out;
  };
  const a = normalize(actual);
  const e = normalize(expected);
  if (!options.tokens) return a === e;
  const at = a.split(/\s+/).filter((t) => t !== '');
  const et = e.split(/\s+/).filter((t) => t !== '');
  return at.length === et.length && at.every((token, i) => tokenMatches(token, et[i] ?? '', options));
}

function tokenMatches(actual: string, expected: string, options: CompareOptions): boolean {
  if (actual === expected) return true;
  const tolerance = options.floatTolerance;
  if (tolerance === undefined) return false;
  const x = Number(actual);
  const y = Number(expected);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  const difference = Math.abs(x - y);
  return difference <= tolerance || difference <= tolerance * Math.abs(y);
}

/** The verdict of one test: it passes when it exited 0 in time and its stdout matches. */
export function judgeTest(run: TestRun, test: TestCase, options: CompareOptions): TestVerdict {
  const failure: TestFailure | null = run.timedOut
    ? 'timeout'
    : run.oomKilled
      ? 'oom'
      : run.signal !== null
        ? 'signal'
        : run.exitCode !== 0
          ? 'exit_code'
          : outputMatches(run.stdout, test.expectedStdout, options)
            ? null
            : 'wrong_answer';
  return { ...run, passed: failure === null, failure };
}

/** Verdicts for every test; tests the runtime did not reach (a cancel, a platform error) are `not_run`. */
export function judgeTests(runs: readonly TestRun[], grading: Grading): TestVerdict[] {
  return grading.tests.map((test, i) => {
    const run = runs[i];
    if (run) return judgeTest(run, test, grading.compare);
    return {
      stdout: '',
      stderr: '',
      stdoutTruncated: false,
      exitCode: null,
      signal: null,
      timedOut: false,
      oomKilled: false,
      durationMs: 0,
      passed: false,
      failure: 'not_run',
    };
  });
}

/** True when the evaluation needs more than one plain run of its entry file. */
export function isGraded(grading: Grading | null | undefined): grading is Grading {
  return grading !== null && grading !== undefined && (grading.files.length > 0 || grading.tests.length > 0);
}
