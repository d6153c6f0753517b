import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DEFAULT_LIMITS, findLanguage, type LanguageSpec } from '../../src/core/index.js';
import type { RunRequest } from '../../src/runtime/runtime.js';
import { collectArtifacts, createArtifactsMounts } from '../../src/runtime/local/artifacts-mount.js';
import { spawnDirect } from '../../src/runtime/local/spawned.js';
import { compileSpec, runSpec } from '../../src/runtime/local/staged-run.js';
import { WarmStagesPool } from '../../src/runtime/local/warm-stages.js';
import { installLanguages } from '../../src/runtime/local/install-languages.js';
import { describeSandboxed } from '../support/requirements.js';
import { HELLO } from './programs.js';
import { INSTALL_TIMEOUT_MS } from './support.js';

/**
 * Pre-spawned compile/run pairs (warm-stages.ts): each brings its own /build, the run sandbox sees what the
 * compile sandbox wrote there, and a fork bomb in a pre-spawned compile stage is contained as in a cold one.
 */
const PLACEHOLDER = { hostPath: '', remove: async () => undefined };

function requestFor(language: string, code: string): RunRequest {
  return {
    evaluationId: `warm-${language}`,
    language,
    code,
    stdin: '',
    limits: { ...DEFAULT_LIMITS, timeoutSeconds: 10 },
    priority: 'normal',
    labels: {},
  };
}

const BOMB: LanguageSpec = {
  ...findLanguage('c')!,
  id: 'forkbomb',
  compile: {
    argv: () => ['bash', '-c', 'warmbomb() { warmbomb | warmbomb & }; warmbomb; sleep 30'],
    limits: { timeoutSeconds: 3, memoryMb: 256, maxProcesses: 32, tmpSizeMb: 16, buildSizeMb: 8 },
    sourceExtensions: ['.c'],
  },
};

/** This file's bomb (its own name: compile-containment.test.ts may run one at the same time) running (as bash), not the pre-spawned bwrap processes that carry its command line. */
function bombProcesses(): number {
  const out = execFileSync('/usr/bin/ps', ['-eo', 'args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes('warmbomb | warmbomb') && !/^\S*bwrap /.test(line))
    .length;
}

describeSandboxed('pre-spawned compile stages (bwrap)', () => {
  let pool: WarmStagesPool;
  beforeAll(async () => {
    await installLanguages(['c'], (message) => process.stderr.write(`${message}\n`));
    const artifacts = createArtifactsMounts(8, () => undefined);
    pool = new WarmStagesPool({
      perTemplate: 1,
      extraTasks: 2,
      warn: () => undefined,
      launch: spawnDirect,
      artifacts,
    });
  }, INSTALL_TIMEOUT_MS);
  afterAll(() => pool?.close());

  /** Claims a pair for `language` (learning the kind first if none is ready) and returns it. */
  async function claim(language: LanguageSpec, code: string, onOutput: (data: Buffer) => void, runs = 1) {
    const request = requestFor(language.id, code);
    const compile = compileSpec(request, language, PLACEHOLDER)!;
    const run = runSpec(request, language, PLACEHOLDER, '');
    const size = language.compile!.limits.buildSizeMb;
    const onCompile = (_stream: string, data: Buffer) => onOutput(data);
    // A kind the pool has not seen is learned by the first claim (cold: null); the refill makes the next warm.
    let stages = pool.launch(compile, run, size, onCompile, runs);
    if (!stages) {
      await pool.settled();
      stages = pool.launch(compile, run, size, onCompile, runs);
    }
    expect(stages).not.toBeNull();
    return { stages: stages!, request };
  }

  test('a warm pair compiles C into its own /build and runs the binary from it', async () => {
    const c = findLanguage('c')!;
    let compilerOutput = '';
    const { stages, request } = await claim(c, HELLO['c']!, (data) => (compilerOutput += data.toString()));
    const compiled = await stages.compile.exited;
    expect(compilerOutput).toBe('');
    expect(compiled.exitCode).toBe(0);
    const build = { hostPath: stages.buildHostPath, remove: stages.removeBuild };
    let stdout = '';
    const run = await stages.run(
      runSpec(request, c, build, ''),
      (_stream, data) => (stdout += data.toString()),
    );
    expect(run).not.toBeNull();
    expect((await run!.exited).exitCode).toBe(0);
    expect(stdout).toBe('hello\n');
    // The waiting run sandbox served once; the next run stage starts cold.
    expect(await stages.run(runSpec(request, c, build, ''), () => undefined)).toBeNull();
    await stages.removeBuild();
  }, 60_000);

  test('a fork bomb as a pre-spawned compile stage meets its limits and leaves no process', async () => {
    const { stages } = await claim(BOMB, '', () => undefined);
    const exit = await stages.compile.exited;
    expect(exit.timedOut).toBe(true);
    await stages.release();
    await stages.removeBuild();
    expect(bombProcesses()).toBe(0);
  }, 60_000);

  test('the warm run stage has its own /artifacts: the program’s files are collected from it', async () => {
    const c = findLanguage('c')!;
    const code =
      '#include <stdio.h>\nint main(void) { FILE *f = fopen("/artifacts/out.txt", "w");\n' +
      '  if (!f) return 2; fputs("made", f); fclose(f); return 0; }\n';
    const { stages, request } = await claim(c, code, () => undefined);
    expect((await stages.compile.exited).exitCode).toBe(0);
    const build = { hostPath: stages.buildHostPath, remove: stages.removeBuild };
    const run = (await stages.run(
      { ...runSpec(request, c, build, ''), collectArtifacts: true },
      () => undefined,
    ))!;
    expect((await run.exited).exitCode).toBe(0);
    const names: string[] = [];
    await collectArtifacts(run.artifacts, { artifact: async (file) => void names.push(file.name) });
    expect(names).toEqual(['out.txt']);
    await stages.removeBuild();
  }, 60_000);

  test('with tests, each run starts in a sandbox built during the previous one, on the same build', async () => {
    const c = findLanguage('c')!;
    const code =
      '#include <stdio.h>\nint main(void) { int n; if (scanf("%d", &n) != 1) return 2; printf("%d\\n", n * n); }\n';
    const { stages, request } = await claim(c, code, () => undefined, 3);
    expect((await stages.compile.exited).exitCode).toBe(0);
    const build = { hostPath: stages.buildHostPath, remove: stages.removeBuild };
    const outputs: string[] = [];
    for (const n of [2, 3, 4]) {
      let stdout = '';
      const run = await stages.run(
        runSpec(request, c, build, `${n}`),
        (_s, data) => (stdout += data.toString()),
      );
      expect(run).not.toBeNull();
      expect((await run!.exited).exitCode).toBe(0);
      outputs.push(stdout);
    }
    expect(outputs).toEqual(['4\n', '9\n', '16\n']);
    // Three runs were announced: a fourth starts cold.
    expect(await stages.run(runSpec(request, c, build, '5'), () => undefined)).toBeNull();
    await stages.release();
    await stages.removeBuild();
  }, 60_000);
});
