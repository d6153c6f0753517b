import { afterAll, beforeAll, expect, test } from 'vitest';
import { findLanguage, type Grading } from '../../src/core/index.js';
import type { RunRequest } from '../../src/runtime/runtime.js';
import { request, setup, Tracked, type Env } from '../kubernetes/harness.js';
import { COMPILE_ERRORS, HELLO } from './programs.js';
import { ensureAllLanguages, INSTALL_TIMEOUT_MS } from './support.js';

/**
 * Compiled languages, files and tests on the Kubernetes backend, through the fake API server: the fake
 * kubelet runs the real static runner (its compile stage, runner/src/compile.rs) with this host's compilers,
 * and the real state machine judges what the runtime reports (core/verdicts.ts).
 */
let env: Env;
beforeAll(async () => {
  await ensureAllLanguages();
  env = await setup();
}, INSTALL_TIMEOUT_MS);
afterAll(() => env?.close());

type Container = {
  name: string;
  image: string;
  command: string[];
  resources: { limits: { memory: string } };
  volumeMounts: { name: string; readOnly?: boolean }[];
};
type Pod = {
  containers: Container[];
  initContainers: Container[];
  volumes: { name: string; emptyDir?: { medium?: string; sizeLimit?: string } }[];
};

/** Runs one graded request as the service would: the evaluation carries its grading for the verdicts. */
async function run(
  language: string,
  code: string,
  grading?: Partial<Grading>,
  timeoutSeconds = 10,
): Promise<Tracked> {
  const req: RunRequest = {
    ...request(code, { language, limits: { timeoutSeconds } }),
    ...(grading ? { grading: { files: [], tests: [], compare: {}, ...grading } } : {}),
  };
  const t = new Tracked(req);
  t.evaluation = { ...t.evaluation, grading: req.grading ?? null };
  await env.runtime.start(req, t);
  await t.until();
  return t;
}

function lastPod(): Pod {
  const job = env.cluster.store.list('jobs', 'crucible-test').at(-1) as unknown as {
    spec: { template: { spec: Pod } };
  };
  return job.spec.template.spec;
}

test.each(['c', 'cpp', 'go', 'rust', 'java'])(
  'hello world in %s on the Kubernetes backend: compiled in the pod, then run',
  async (language) => {
    const t = await run(language, HELLO[language]!);
    expect(t.err).toBe('');
    expect(t.evaluation.status).toBe('succeeded');
    expect(t.out).toBe('hello\n');
    expect(t.evaluation.result?.compileOutput).toBe('');
    // Running from the compile on, as locally: the evaluation's run includes it, `durationMs` is the program's.
    expect(t.transitions.map((x) => x.to)).toContain('running');
    const { startedAt, finishedAt } = t.evaluation.timings;
    expect(Date.parse(finishedAt!) - Date.parse(startedAt!)).toBeGreaterThan(
      t.evaluation.result!.durationMs!,
    );
    const pod = lastPod();
    const spec = findLanguage(language)!;
    expect(pod.containers[0]?.image).toBe(spec.image);
    // The compiler has its own init container and memory; the program the evaluation's, /build read-only.
    const compile = pod.initContainers.find((c) => c.name === 'compile')!;
    expect(compile.image).toBe(spec.image);
    expect(compile.resources.limits.memory).toBe(`${spec.compile!.limits.memoryMb}Mi`);
    expect(pod.containers[0]?.resources.limits.memory).toBe(`${t.request.limits.memoryMb}Mi`);
    expect(pod.containers[0]?.volumeMounts.find((m) => m.name === 'build')?.readOnly).toBe(true);
    expect(pod.volumes.find((v) => v.name === 'build')?.emptyDir?.medium).toBe('Memory');
  },
  120_000,
);

test.each(Object.keys(COMPILE_ERRORS))(
  'a compile error in %s on Kubernetes ends failed / compile_error with the compiler message',
  async (language) => {
    const { code, message } = COMPILE_ERRORS[language]!;
    const t = await run(language, code);
    expect(t.evaluation.status).toBe('failed');
    expect(t.evaluation.result?.reason).toBe('compile_error');
    expect(t.evaluation.result?.compileOutput).toContain(message);
    // Kept apart: the program never ran, its streams are empty.
    expect(t.out).toBe('');
    expect(t.err).toBe('');
  },
  120_000,
);

test('a two-file C++ program on Kubernetes (a header and a second .cpp)', async () => {
  const t = await run(
    'cpp',
    '#include <iostream>\n#include "lib/square.h"\nint main() { std::cout << square(7) << "\\n"; }\n',
    {
      files: [
        { name: 'lib/square.h', content: 'int square(int x);\n' },
        { name: 'square.cpp', content: '#include "lib/square.h"\nint square(int x) { return x * x; }\n' },
      ],
    },
  );
  expect(t.evaluation.result?.compileOutput).toBe('');
  expect(t.evaluation.status).toBe('succeeded');
  expect(t.out).toBe('49\n');
}, 120_000);

test('ten tests with two failing on Kubernetes: failed / tests_failed, 8/10, a verdict each', async () => {
  const code =
    '#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 3;\n' +
    '  printf("%ld\\n", a + b); fprintf(stderr, "err%ld", a); return 0; }\n';
  const tests = Array.from({ length: 10 }, (_, i) => ({
    stdin: `${i} ${i + 1}\n`,
    // Tests 3 and 7 expect a wrong sum.
    expectedStdout: `${i === 3 || i === 7 ? 0 : 2 * i + 1}\n`,
  }));
  const t = await run('c', code, { tests });
  expect(t.evaluation.status).toBe('failed');
  expect(t.evaluation.result?.reason).toBe('tests_failed');
  expect(t.evaluation.result?.message).toBe('8/10 tests passed');
  expect(t.evaluation.result).toMatchObject({ passed: 8, total: 10 });
  const verdicts = t.evaluation.result?.tests ?? [];
  expect(verdicts.map((v) => v.passed)).toEqual(tests.map((_, i) => i !== 3 && i !== 7));
  expect(verdicts[3]).toMatchObject({ failure: 'wrong_answer', stdout: '7\n', stderr: 'err3', exitCode: 0 });
  expect(verdicts[0]).toMatchObject({ failure: null, stdout: '1\n', stderr: 'err0' });
  // Test output goes into the verdicts, not the evaluation's streams.
  expect(t.out).toBe('');
}, 120_000);

test('a test over its time limit on Kubernetes is that test timeout; the others still run', async () => {
  const code =
    '#include <stdio.h>\nint main(void) { int n = 0; if (scanf("%d", &n) != 1) return 3;\n' +
    '  if (n == 2) for (;;) {}\n  printf("%d\\n", n); return 0; }\n';
  const tests = [1, 2, 3].map((n) => ({ stdin: `${n}`, expectedStdout: `${n}\n` }));
  const t = await run('c', code, { tests }, 1);
  expect(t.evaluation.status).toBe('failed');
  expect(t.evaluation.result).toMatchObject({ reason: 'tests_failed', passed: 2, total: 3 });
  const verdicts = t.evaluation.result?.tests ?? [];
  expect(verdicts.map((v) => v.failure)).toEqual([null, 'timeout', null]);
  expect(verdicts[1]).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
}, 120_000);

test('each test on Kubernetes starts with /tmp as the compile left it (the tests share the container)', async () => {
  const code =
    '#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n' +
    '  if (access("/tmp/mark", F_OK) == 0) { puts("dirty"); return 0; }\n' +
    '  FILE *f = fopen("/tmp/mark", "w"); if (!f) return 4; fclose(f); puts("fresh"); return 0; }\n';
  const tests = [0, 1, 2].map(() => ({ expectedStdout: 'fresh\n' }));
  const t = await run('c', code, { tests });
  expect(t.evaluation.result?.tests?.map((v) => v.stdout)).toEqual(['fresh\n', 'fresh\n', 'fresh\n']);
  expect(t.evaluation.status).toBe('succeeded');
}, 120_000);

test('a two-file Python program on Kubernetes (a package with an empty __init__.py)', async () => {
  const t = await run('python', 'from helpers.text import shout\nprint(shout("hi"))', {
    files: [
      { name: 'helpers/__init__.py', content: '' },
      { name: 'helpers/text.py', content: 'def shout(s):\n    return s.upper() + "!"\n' },
    ],
  });
  expect(t.err).toBe('');
  expect(t.evaluation.status).toBe('succeeded');
  expect(t.out).toBe('HI!\n');
  expect(t.evaluation.result?.compileOutput).toBeUndefined();
}, 120_000);

test('the program on Kubernetes has the evaluation’s memory, not the compiler’s (its own container)', async () => {
  // 800 MiB touched: over the evaluation's container (the fake kubelet gives at least 512 MiB), under the
  // compiler's 1024 MiB, which the program shared when both ran in one container.
  const code =
    '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) {\n' +
    // volatile: the stores must happen (gcc -O2 would fold a memset whose result is only read once).
    '  size_t n = 800u << 20; volatile char *p = malloc(n); if (!p) return 2;\n' +
    '  for (size_t i = 0; i < n; i += 4096) p[i] = 1;\n  printf("%d\\n", p[n - 4096]); return 0; }\n';
  const t = await run('c', code);
  expect(t.evaluation.result?.compileOutput).toBe('');
  expect(t.out).toBe('');
  expect(t.evaluation.status).toBe('failed');
  expect(t.evaluation.result?.reason).toBe('oom');
}, 120_000);

test('a compile init container killed by the kernel (OOM) ends compile_error on Kubernetes', async () => {
  env.cluster.kubelet.faults.oomKillInit = (_pod, container) => container === 'compile';
  try {
    const t = await run('c', HELLO['c']!);
    expect(t.evaluation.status).toBe('failed');
    expect(t.evaluation.result).toMatchObject({
      reason: 'compile_error',
      message: 'the compiler exceeded its memory limit',
    });
    expect(t.out).toBe('');
  } finally {
    env.cluster.kubelet.faults.oomKillInit = () => false;
  }
}, 120_000);
