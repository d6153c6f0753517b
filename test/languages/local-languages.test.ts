import { afterAll, beforeAll, expect, test } from 'vitest';
import { LANGUAGE_IDS } from '../../src/core/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { describeSandboxed, type Need } from '../support/requirements.js';
import { COMPILE_ERRORS, HELLO, SUM_PY } from './programs.js';
import { ensureAllLanguages, INSTALL_TIMEOUT_MS } from './support.js';

for (const isolation of ['bwrap', 'gvisor'] as const satisfies readonly Need[]) {
  describeSandboxed(
    `languages in the local sandbox (${isolation})`,
    () => {
      let p: InProcess;
      // gVisor starts each sandbox in about a second, and a compiled language runs two.
      const waitMs = isolation === 'gvisor' ? 120_000 : 60_000;

      beforeAll(async () => {
        await ensureAllLanguages();
        const sandbox = await createSandbox({
          isolation,
          stateDir: `/tmp/crucible-lang-${isolation}-${process.pid}`,
        });
        p = await inProcess({ runtime: createLocalRuntime(sandbox) });
      }, INSTALL_TIMEOUT_MS);
      afterAll(() => p?.close());

      const run = async (submission: Parameters<InProcess['service']['submit']>[0]) => {
        const { evaluation } = await p.service.submit(submission);
        const done = await p.service.wait(evaluation.id, waitMs);
        return { done, output: await p.service.withOutput(done) };
      };

      test.each(LANGUAGE_IDS)(
        'hello world in %s',
        async (language) => {
          const { done, output } = await run({ language, code: HELLO[language]! });
          expect(output.stderr).toBe('');
          expect(done.status).toBe('succeeded');
          expect(output.stdout).toBe('hello\n');
          const compiled = done.result?.compileOutput !== undefined;
          expect(compiled).toBe(['c', 'cpp', 'go', 'rust', 'java'].includes(language));
        },
        waitMs,
      );

      test.each(Object.keys(COMPILE_ERRORS))(
        'a compile error in %s ends failed / compile_error with the compiler message',
        async (language) => {
          const { code, message } = COMPILE_ERRORS[language]!;
          const { done, output } = await run({ language, code });
          expect(done.status).toBe('failed');
          expect(done.result?.reason).toBe('compile_error');
          expect(done.result?.compileOutput).toContain(message);
          // Compiler messages are kept apart: the program's own streams are empty (it never ran).
          expect(output.stdout).toBe('');
          expect(output.stderr).toBe('');
        },
        waitMs,
      );

      test(
        'NumPy imports in python',
        async () => {
          const code = 'import numpy as np\nprint(int(np.arange(10).sum()))';
          const { done, output } = await run({ language: 'python', code });
          expect(output.stderr).toBe('');
          expect(done.status).toBe('succeeded');
          expect(output.stdout).toBe('45\n');
        },
        waitMs,
      );

      test(
        'a two-file program in python',
        async () => {
          const { done, output } = await run({
            language: 'python',
            code: 'from helpers.text import shout\nprint(shout("hi"))',
            files: [
              { name: 'helpers/__init__.py', content: '' },
              { name: 'helpers/text.py', content: 'def shout(s):\n    return s.upper() + "!"\n' },
            ],
          });
          expect(output.stderr).toBe('');
          expect(done.status).toBe('succeeded');
          expect(output.stdout).toBe('HI!\n');
        },
        waitMs,
      );

      test(
        'a two-file program in C++',
        async () => {
          const { done, output } = await run({
            language: 'cpp',
            code: '#include <iostream>\n#include "square.h"\nint main() { std::cout << square(7) << "\\n"; }\n',
            files: [
              { name: 'square.h', content: 'int square(int x);\n' },
              { name: 'square.cpp', content: '#include "square.h"\nint square(int x) { return x * x; }\n' },
            ],
          });
          expect(done.result?.compileOutput).toBe('');
          expect(done.status).toBe('succeeded');
          expect(output.stdout).toBe('49\n');
        },
        waitMs,
      );

      test(
        'ten tests with two failing: failed / tests_failed, 8/10, a verdict each',
        async () => {
          const tests = Array.from({ length: 10 }, (_, i) => ({
            stdin: `${i} ${i + 1}\n`,
            // Tests 3 and 7 expect a wrong sum.
            expectedStdout: `${i === 3 || i === 7 ? 0 : 2 * i + 1}\n`,
          }));
          const { done } = await run({ language: 'python', code: SUM_PY, tests });
          expect(done.status).toBe('failed');
          expect(done.result?.reason).toBe('tests_failed');
          expect(done.result?.passed).toBe(8);
          expect(done.result?.total).toBe(10);
          const verdicts = done.result?.tests ?? [];
          expect(verdicts.map((v) => v.passed)).toEqual(tests.map((_, i) => i !== 3 && i !== 7));
          expect(verdicts[3]).toMatchObject({ failure: 'wrong_answer', stdout: '7\n', exitCode: 0 });
          expect(verdicts[0]).toMatchObject({ failure: null, stdout: '1\n' });
        },
        waitMs * 2,
      );

      test(
        'tests of a compiled program compile once and all pass',
        async () => {
          const code =
            '#include <stdio.h>\nint main(void) { long a, b; scanf("%ld %ld", &a, &b); printf("%ld  \\n", a * b); }\n';
          const tests = [
            { stdin: '6 7', expectedStdout: '42\n' },
            { stdin: '-3 3', expectedStdout: '-9' },
          ];
          const { done } = await run({
            language: 'c',
            code,
            tests,
            compare: { trimTrailingWhitespace: true },
          });
          expect(done.result?.compileOutput).toBe('');
          expect(done.status).toBe('succeeded');
          expect(done.result).toMatchObject({ passed: 2, total: 2, reason: null });
        },
        waitMs,
      );
    },
    isolation,
  );
}
