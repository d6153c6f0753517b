import type { Result } from './evaluation.js';
import type { Status } from './status.js';
import { judgeTests, type Grading } from './grading.js';
import type { RunOutcome } from './outcome.js';

interface Classified {
  readonly status: Status;
  readonly result: Result;
}

/**
 * The compile stage and test verdicts on top of `classifyOutcome`: a failed compile ends `failed` /
 * `compile_error` whatever else happened, and a submission with tests succeeds only when every test passed
 * (`failed` / `tests_failed` otherwise, with each verdict and `passed` of `total`).
 */
export function gradeOutcome(
  classified: Classified,
  outcome: RunOutcome,
  grading: Grading | null | undefined,
): Classified {
  if (outcome.kind !== 'exited') return classified;
  let { status, result } = classified;
  if (outcome.compile) {
    result = { ...result, compileOutput: outcome.compile.output };
    if (!outcome.compile.succeeded) {
      const why = outcome.compile.timedOut
        ? 'the compiler exceeded its time limit'
        : outcome.compile.oomKilled
          ? 'the compiler exceeded its memory limit'
          : 'the program did not compile';
      return { status: 'failed', result: { ...result, reason: 'compile_error', message: why } };
    }
  }
  const tests = grading?.tests ?? [];
  if (tests.length === 0 || !grading) return { status, result };
  const verdicts = judgeTests(outcome.testRuns ?? [], grading);
  const passed = verdicts.filter((v) => v.passed).length;
  result = { ...result, tests: verdicts, passed, total: verdicts.length };
  if (passed === verdicts.length) {
    status = 'succeeded';
    result = { ...result, reason: null };
  } else {
    status = 'failed';
    result = { ...result, reason: 'tests_failed', message: `${passed}/${verdicts.length} tests passed` };
  }
  return { status, result };
}
