import { z } from 'zod';
import { fileNameProblem, GRADING_BOUNDS, TEST_FAILURES, type LimitBounds } from '../core/index.js';

/** A string of at most `maxBytes` UTF-8 bytes, well-formed, without NUL. */
function text(what: string, maxBytes: number) {
  return z
    .string({ error: `must be a string (${what})` })
    .refine((s) => Buffer.byteLength(s, 'utf8') <= maxBytes, {
      message: `is larger than the limit of ${maxBytes} bytes`,
    })
    .refine((s) => s.isWellFormed(), { message: 'must be valid UTF-8 (no lone surrogates)' });
}

/**
 * `files`, `tests` and `compare` of a submission (docs/languages.md). zod's issue paths give the field
 * (`files.3.name`, `tests.0.expectedStdout`); the messages name the limit. The entry-file collision depends on
 * the language and is checked by the service.
 */
export function gradingFields(bounds: LimitBounds) {
  const file = z.strictObject(
    {
      name: z
        .string({ error: 'must be a string (a relative path such as "util.py")' })
        .superRefine((name, context) => {
          const problem = fileNameProblem(name, '');
          if (problem) context.addIssue({ code: 'custom', message: problem });
        }),
      content: text('the file', bounds.maxCodeBytes).refine((s) => !s.includes('\0'), {
        message: 'must not contain NUL bytes',
      }),
    },
    { error: 'each file is { "name": "util.py", "content": "…" }' },
  );
  const test = z.strictObject(
    {
      stdin: text('the test input', bounds.maxStdinBytes).optional(),
      expectedStdout: text('the expected output', bounds.maxStdinBytes),
    },
    { error: 'each test is { "stdin"?: "…", "expectedStdout": "…" }' },
  );
  return {
    files: z
      .array(file, { error: 'files must be a list of { name, content }' })
      .max(GRADING_BOUNDS.maxFiles, { error: `files: at most ${GRADING_BOUNDS.maxFiles} files` })
      .superRefine((files, context) => {
        const seen = new Set<string>();
        let total = 0;
        files.forEach((f, i) => {
          total += Buffer.byteLength(f.content, 'utf8');
          if (seen.has(f.name)) {
            context.addIssue({ code: 'custom', path: [i, 'name'], message: `"${f.name}" is given twice` });
          }
          seen.add(f.name);
          if (total > bounds.maxCodeBytes) {
            context.addIssue({
              code: 'custom',
              path: [i, 'content'],
              message: `the files together are larger than the limit of ${bounds.maxCodeBytes} bytes`,
            });
          }
        });
      })
      .optional(),
    tests: z
      .array(test, { error: 'tests must be a list of { stdin?, expectedStdout }' })
      .max(GRADING_BOUNDS.maxTests, { error: `tests: at most ${GRADING_BOUNDS.maxTests} tests` })
      .optional(),
    compare: z
      .strictObject(
        {
          trimTrailingWhitespace: z.boolean({ error: 'must be true or false' }).optional(),
          ignoreCase: z.boolean({ error: 'must be true or false' }).optional(),
          tokens: z.boolean({ error: 'must be true or false' }).optional(),
          floatTolerance: z
            .number({ error: 'must be a number' })
            .min(0, { error: 'must be between 0 and 1' })
            .max(1, { error: 'must be between 0 and 1' })
            .optional(),
        },
        { error: 'compare must be an object of comparison options' },
      )
      .optional(),
  };
}

const TestVerdictSchema = z.object({
  passed: z.boolean(),
  /** Why it failed: wrong_answer, exit_code, signal, timeout, oom, not_run; null when it passed. */
  failure: z.enum(TEST_FAILURES).nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  oomKilled: z.boolean(),
  durationMs: z.number(),
});

/** Result fields of compiled languages and graded submissions (absent otherwise). */
export const gradingResultFields = {
  compileOutput: z.string().optional(),
  tests: z.array(TestVerdictSchema).readonly().optional(),
  passed: z.number().optional(),
  total: z.number().optional(),
};

/** `GET /v1/languages`. */
export const LanguageSchema = z.object({
  id: z.string(),
  displayName: z.string(),
  /** As found on this host (probed at start-up) or configured per image; null when not installed. */
  version: z.string().nullable(),
  compiled: z.boolean(),
  extensions: z.array(z.string()).readonly(),
  installed: z.boolean(),
  /** How to install it when it is not (`crucible languages install ID`); null when installed. */
  install: z.string().nullable(),
  fileName: z.string(),
});

export const LanguagesSchema = z.object({ items: z.array(LanguageSchema) });
