import {
  GRADING_BOUNDS,
  compileArgv,
  type CompileFacts,
  type ExitedOutcome,
  type Grading,
  type LanguageSpec,
  type OutputStream,
  type TestRun,
} from '../../core/index.js';
import type { CollectedFile } from '../artifacts.js';
import { CappedText } from '../capped-text.js';
import type { RunRequest } from '../runtime.js';
import { collectArtifacts } from './artifacts-mount.js';
import { createBuildDir, type BuildDir } from './build-dir.js';
import type {
  Sandbox,
  SandboxBind,
  WarmStages,
  SandboxExit,
  SandboxFile,
  SandboxHandle,
  SandboxSpec,
} from './sandbox-types.js';

const CODE_DIR = '/code';
const BUILD_DIR = '/build';
/**
 * The one file of a compiled program's run stage (its sources stay with the compiler): a pre-spawned run
 * sandbox waits at the gate for its last file, so the run stage has one, empty, whether pooled or not.
 */
const RUN_MARKER: SandboxFile = { path: '/run/crucible-stage', content: '' };
/** The build of a claim, before a pair gives its own (warm-stages.ts ignores the host path). */
const PENDING_BUILD: BuildDir = { hostPath: '', remove: async () => undefined };

/** A run in stages: compile (if the language compiles), then the program once, or once per test. */
export interface StagedRun {
  /** Resolves with what was observed; never rejects (a launch failure is reported as `error`). */
  readonly outcome: Promise<ExitedOutcome | { kind: 'error'; message: string }>;
  kill(): Promise<void>;
}

export interface StagedRunEvents {
  /** The first stage started (the evaluation is running from the compile on). */
  readonly started: (at: Date) => void;
  /** Output of a plain run (no tests): streamed as it comes. Compile and test output go into the result. */
  readonly output: (stream: OutputStream, data: Buffer) => void;
  /** A file the program's run left in `/artifacts` (with tests, each run's as `tests/<n>/<name>`). */
  readonly artifact?: (file: CollectedFile) => Promise<void>;
}

/** The sources of a submission at their sandbox paths, the entry file first. */
export function sourceFiles(request: RunRequest, language: LanguageSpec): SandboxFile[] {
  return [
    { path: `${CODE_DIR}/${language.fileName}`, content: request.code },
    ...(request.grading?.files ?? []).map((f) => ({ path: `${CODE_DIR}/${f.name}`, content: f.content })),
  ];
}

/** The compile stage's spec: every source read-only in /code, a writable /build, the language's limits. */
export function compileSpec(
  request: RunRequest,
  language: LanguageSpec,
  build: BuildDir,
): SandboxSpec | null {
  const step = language.compile;
  if (!step) return null;
  const files = sourceFiles(request, language);
  return {
    argv: compileArgv(
      step,
      files.map((f) => f.path),
    ),
    files,
    binds: [{ hostPath: build.hostPath, path: BUILD_DIR, writable: true }],
    ...hostDirsOf(language),
    ...(language.env ? { env: language.env } : {}),
    stdin: '',
    limits: {
      timeoutSeconds: step.limits.timeoutSeconds,
      memoryMb: step.limits.memoryMb,
      maxProcesses: step.limits.maxProcesses,
      tmpSizeMb: step.limits.tmpSizeMb,
      maxOutputBytes: GRADING_BOUNDS.maxCompileOutputBytes,
    },
  };
}

/** The program's spec under the evaluation's limits: the build read-only, or the sources for interpreters. */
export function runSpec(
  request: RunRequest,
  language: LanguageSpec,
  build: BuildDir | null,
  stdin: string,
): SandboxSpec {
  const binds: SandboxBind[] = build ? [{ hostPath: build.hostPath, path: BUILD_DIR, writable: false }] : [];
  return {
    argv: [language.interpreter, ...language.args(`${CODE_DIR}/${language.fileName}`)],
    // A compiled program needs only its build; the sources stay with the compiler.
    files: build ? [RUN_MARKER] : sourceFiles(request, language),
    ...(binds.length > 0 ? { binds } : {}),
    ...hostDirsOf(language),
    ...(language.env ? { env: language.env } : {}),
    stdin,
    limits: request.limits,
  };
}

function hostDirsOf(language: LanguageSpec): { hostDirs?: readonly string[] } {
  return language.hostDirs ? { hostDirs: language.hostDirs } : {};
}

/**
 * Starts a staged run. Stages run one after another in fresh sandboxes of the same isolation; a compile
 * failure ends the run (no program runs), and a cancel kills the stage in progress and starts no other.
 */
export function startStagedRun(
  sandbox: Sandbox,
  request: RunRequest,
  language: LanguageSpec,
  events: StagedRunEvents,
  warn: (message: string) => void,
): StagedRun {
  let current: SandboxHandle | null = null;
  let killed = false;
  let startedOnce = false;
  /** A claimed pre-spawned compile/run pair: its run sandbox serves the first run stage. */
  let warm: WarmStages | null = null;
  const launch = async (
    spec: SandboxSpec,
    onOutput: (s: OutputStream, d: Buffer) => void,
    prestarted: SandboxHandle | null = null,
  ) => {
    if (killed) {
      await prestarted?.kill();
      return null;
    }
    const handle = prestarted ?? (await warm?.run(spec, onOutput)) ?? (await sandbox.launch(spec, onOutput));
    current = handle;
    if (!startedOnce) {
      startedOnce = true;
      events.started(handle.startedAt);
    }
    if (killed) await handle.kill();
    return handle;
  };

  // The program's stages get an `/artifacts` (not the compiler's); collected once each has exited.
  const program = (spec: SandboxSpec): SandboxSpec => ({ ...spec, collectArtifacts: true });
  const collect = (handle: SandboxHandle, prefix: string) =>
    collectArtifacts(handle.artifacts, {
      ...(events.artifact
        ? { artifact: (file) => events.artifact!({ ...file, name: prefix + file.name }) }
        : {}),
    });

  const outcome = (async () => {
    let build: BuildDir | null = null;
    try {
      let compile: CompileFacts | undefined;
      if (language.compile) {
        const output = new CappedText(GRADING_BOUNDS.maxCompileOutputBytes);
        const onCompile = (_stream: OutputStream, data: Buffer) => output.add(data);
        const firstStdin = request.grading?.tests[0]?.stdin ?? request.stdin;
        const { buildSizeMb } = language.compile.limits;
        const pending = compileSpec(request, language, PENDING_BUILD);
        const firstRun = runSpec(request, language, PENDING_BUILD, firstStdin);
        const runs = Math.max(1, request.grading?.tests.length ?? 0);
        warm = pending
          ? (sandbox.launchStages?.(pending, firstRun, buildSizeMb, onCompile, runs) ?? null)
          : null;
        const claimed = warm;
        build = claimed
          ? { hostPath: claimed.buildHostPath, remove: () => claimed.removeBuild() }
          : await createBuildDir(buildSizeMb, warn);
        const spec = compileSpec(request, language, build);
        const handle = spec ? await launch(spec, onCompile, claimed?.compile ?? null) : null;
        if (!handle) return cancelledOutcome();
        const exit = await handle.exited;
        compile = compileFactsOf(exit, output);
        if (!compile.succeeded) return { ...outcomeOf(exit), compile };
      }
      const tests = request.grading?.tests ?? [];
      if (tests.length === 0) {
        const handle = await launch(program(runSpec(request, language, build, request.stdin)), events.output);
        if (!handle) return cancelledOutcome(compile);
        const exit = await handle.exited;
        await collect(handle, '');
        return { ...outcomeOf(exit), ...(compile ? { compile } : {}) };
      }
      return await runTests(request.grading as Grading, build, compile);
    } catch (error) {
      return { kind: 'error' as const, message: error instanceof Error ? error.message : String(error) };
    } finally {
      await warm?.release();
      // Not awaited: unmounting is not part of the result (the tmpfs is already out of every sandbox).
      void build?.remove().catch((e: unknown) => warn(`cannot remove a build directory: ${String(e)}`));
    }
  })();

  async function runTests(
    grading: Grading,
    build: BuildDir | null,
    compile: CompileFacts | undefined,
  ): Promise<ExitedOutcome> {
    const runs: TestRun[] = [];
    let first: SandboxExit | null = null;
    let last: SandboxExit | null = null;
    let cpuTimeMs: number | null = 0;
    let peak: number | null = 0;
    for (const test of grading.tests) {
      const stdout = new CappedText(GRADING_BOUNDS.maxTestOutputBytes);
      const stderr = new CappedText(GRADING_BOUNDS.maxTestOutputBytes);
      const spec = program(runSpec(request, language, build, test.stdin ?? ''));
      const handle = await launch(spec, (stream, data) => (stream === 'stdout' ? stdout : stderr).add(data));
      if (!handle) break;
      const exit = await handle.exited;
      await collect(handle, `tests/${runs.length + 1}/`);
      if (exit.killed) break;
      first ??= exit;
      last = exit;
      cpuTimeMs = cpuTimeMs === null || exit.cpuTimeMs === null ? null : cpuTimeMs + exit.cpuTimeMs;
      peak = peak === null || exit.peakMemoryBytes === null ? null : Math.max(peak, exit.peakMemoryBytes);
      runs.push({
        stdout: stdout.text(),
        stderr: stderr.text(),
        stdoutTruncated: stdout.truncated,
        exitCode: exit.exitCode,
        signal: exit.signal,
        timedOut: exit.timedOut,
        oomKilled: exit.oomKilled,
        durationMs: exit.finishedAt.getTime() - exit.startedAt.getTime(),
      });
    }
    if (!first || !last) return cancelledOutcome(compile);
    return {
      ...outcomeOf(last),
      // Test timeouts and OOMs are verdicts of their test; the evaluation's own status comes from them.
      timedOut: false,
      oomKilled: false,
      startedAt: first.startedAt,
      cpuTimeMs,
      peakMemoryBytes: peak,
      testRuns: runs,
      ...(compile ? { compile } : {}),
    };
  }

  return {
    outcome,
    async kill() {
      killed = true;
      await current?.kill();
    },
  };
}

function compileFactsOf(exit: SandboxExit, output: CappedText): CompileFacts {
  const note = output.truncated ? `\n[compiler output truncated at ${output.max} bytes]\n` : '';
  return {
    succeeded: exit.exitCode === 0 && exit.signal === null && !exit.timedOut && !exit.oomKilled,
    output: output.text() + note,
    timedOut: exit.timedOut,
    oomKilled: exit.oomKilled,
    durationMs: exit.finishedAt.getTime() - exit.startedAt.getTime(),
  };
}

function outcomeOf(exit: SandboxExit): ExitedOutcome {
  return {
    kind: 'exited',
    exitCode: exit.exitCode,
    signal: exit.signal,
    timedOut: exit.timedOut,
    oomKilled: exit.oomKilled,
    startedAt: exit.startedAt,
    finishedAt: exit.finishedAt,
    cpuTimeMs: exit.cpuTimeMs,
    peakMemoryBytes: exit.peakMemoryBytes,
    memoryEnforcement: exit.memoryEnforcement,
  };
}

/** A run killed between stages: the service's cancel has written the terminal status already. */
function cancelledOutcome(compile?: CompileFacts): ExitedOutcome {
  const now = new Date();
  return {
    kind: 'exited',
    exitCode: null,
    signal: 'SIGKILL',
    timedOut: false,
    oomKilled: false,
    startedAt: now,
    finishedAt: now,
    cpuTimeMs: null,
    peakMemoryBytes: null,
    memoryEnforcement: 'none',
    ...(compile ? { compile } : {}),
  };
}
