import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { GRADING_BOUNDS, compileArgv, isGraded, type LanguageSpec } from '../../core/index.js';
import type { RunRequest } from '../runtime.js';
import type { PayloadFile } from './payload.js';

/** Where a compiled language's build goes in the pod: a memory-backed emptyDir, gone with the pod. */
export const BUILD_DIR = '/build';
/** The compile init container's frames, replayed by the main container (runner/src/compile_result.rs). */
export const COMPILE_RESULT = `${BUILD_DIR}/.crucible-compile`;
export const COMPILE_CONTAINER = 'compile';

/**
 * The parts of an evaluation pod that differ for a staged run (a compiled language, extra files or tests):
 * runner/src/compile.rs runs the compiler, then the program once or once per test, in the main container.
 */
export interface StagedPod {
  /** Payload files beside the entry file and stdin: extra files as `file-N`, each test's stdin. */
  readonly payload: PayloadFile[];
  /** The main container's runner flags before `--` (after the common ones). */
  readonly flags: string[];
  /** After `--`: the program's argv. */
  readonly argv: string[];
  /**
   * The compile init container's runner arguments after `--payload … --workdir …` (flags, `--`, the
   * compiler's argv) and its memory; null for interpreted languages.
   */
  readonly compile: { readonly args: string[]; readonly memoryMb: number } | null;
  /** The per-stream output cap the runner applies (tests keep 64 KiB each, like the local backend). */
  readonly maxOutputBytes: number;
  /** The main container's memory: the evaluation's (the compiler has its own container). */
  readonly memoryMb: number;
  readonly tmpSizeMb: number;
  /** Wall time the stages may take together (the Job's deadline adds its allowance). */
  readonly seconds: number;
  readonly volumes: V1Volume[];
  readonly mounts: V1VolumeMount[];
  readonly env: V1EnvVar[];
}

/** True when the runner must stage the run: the language compiles, or the submission has files or tests. */
export function isStaged(request: RunRequest, language: LanguageSpec): boolean {
  return language.compile !== undefined || isGraded(request.grading);
}

/**
 * The staged pod of one evaluation: sources in `workdir` (extra files placed by the runner, ConfigMap keys
 * cannot hold `/`), the compile stage's limits from the language table, tests' stdin as `test-NNN.stdin`.
 */
export function stagedPod(
  request: RunRequest,
  language: LanguageSpec,
  workdir: string,
  tmpSizeMb: number,
): StagedPod {
  const files = request.grading?.files ?? [];
  const tests = request.grading?.tests ?? [];
  const payload: PayloadFile[] = [
    ...files.map((f, i) => ({ name: `file-${i}`, content: f.content })),
    ...tests.map((t, i) => ({ name: testStdinName(i), content: t.stdin ?? '' })),
  ];
  const flags = files.flatMap((f, i) => ['--file', `file-${i}=${f.name}`]);
  // Tests share the container: what one leaves in /tmp is removed before the next (runner/src/compile.rs).
  if (tests.length > 0) flags.push('--tests', String(tests.length), '--scratch', '/tmp');
  const program = [language.interpreter, ...language.args(`${workdir}/${language.fileName}`)];
  // A plain run keeps the service's cap (or `maxLogBytes`, spilled by the service); each test 64 KiB.
  const maxOutputBytes =
    tests.length > 0
      ? GRADING_BOUNDS.maxTestOutputBytes
      : Math.max(request.limits.maxOutputBytes, request.limits.maxLogBytes ?? 0);
  const runs = Math.max(1, tests.length);
  const env = Object.entries(language.env ?? {}).map(([name, value]) => ({ name, value }));
  const step = language.compile;
  if (!step) {
    const seconds = request.limits.timeoutSeconds * runs;
    const base = { payload, flags, argv: program, maxOutputBytes, memoryMb: request.limits.memoryMb };
    return { ...base, compile: null, tmpSizeMb, seconds, volumes: [], mounts: [], env };
  }
  const sources = [language.fileName, ...files.map((f) => f.name)].map((name) => `${workdir}/${name}`);
  const compiler = [...compileArgv(step, sources)];
  const limits = step.limits;
  const fileFlags = files.flatMap((f, i) => ['--file', `file-${i}=${f.name}`]);
  const compileArgs = [
    ...fileFlags,
    '--compile-args',
    String(compiler.length),
    '--compile-timeout-ms',
    String(limits.timeoutSeconds * 1000),
    '--compile-pids',
    String(limits.maxProcesses),
    '--compile-max-output',
    String(GRADING_BOUNDS.maxCompileOutputBytes + 1),
    '--compile-to',
    COMPILE_RESULT,
    '--',
    ...compiler,
  ];
  flags.push('--compiled', COMPILE_RESULT);
  return {
    payload,
    flags,
    argv: program,
    compile: { args: compileArgs, memoryMb: limits.memoryMb },
    maxOutputBytes,
    memoryMb: request.limits.memoryMb,
    tmpSizeMb: Math.max(tmpSizeMb, limits.tmpSizeMb),
    seconds: limits.timeoutSeconds + request.limits.timeoutSeconds * runs,
    volumes: [{ name: 'build', emptyDir: { medium: 'Memory', sizeLimit: `${limits.buildSizeMb}Mi` } }],
    // Read-only for the program: the compile init container mounts it writable (manifests.ts).
    mounts: [{ name: 'build', mountPath: BUILD_DIR, readOnly: true }],
    env,
  };
}

/** The payload name of test `index`'s stdin (what runner/src/compile.rs reads). */
export function testStdinName(index: number): string {
  return `test-${String(index).padStart(3, '0')}.stdin`;
}
