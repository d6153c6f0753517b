import type { ArtifactsMount } from './artifacts-mount.js';
import { DEFAULT_LIMITS } from '../../core/index.js';
import { buildBwrapArgs, SANDBOX_ENV, SANDBOX_ETC_FILES } from './bwrap-args.js';
import type { RunCgroups } from './cgroups.js';
import { resolveProgram } from './interpreters.js';
import type { LaunchPlan } from './process-run.js';
import { prlimitPrefix, SETPRIV_NOBODY } from './rlimits.js';
import type { SandboxFile, SandboxSpec } from './sandbox-types.js';
import { SECCOMP_FILTER } from './seccomp.js';

/** The seccomp filter takes fd 3 when there is one; the data files follow it. */
const FIRST_FILE_FD = SECCOMP_FILTER ? 4 : 3;
const SECCOMP_INPUTS = SECCOMP_FILTER ? [SECCOMP_FILTER] : [];
const SECCOMP_FD = SECCOMP_FILTER ? { seccompFd: 3 } : {};

/**
 * bwrap plan: setpriv (drops to 65534) → bwrap (namespaces, mounts) → program, spawned directly. The code and
 * the synthetic /etc reach the sandbox through inherited fds, so no host file the program could later
 * influence is ever written. The last file is fed only once bwrap's two processes are in the run's cgroups
 * (the gate, see gate.ts), so the program starts confined.
 */
export function bwrapPlan(
  spec: SandboxSpec,
  cgroups: RunCgroups | null,
  artifacts?: ArtifactsMount | null,
): LaunchPlan {
  const [name, ...rest] = spec.argv;
  if (name === undefined) throw new Error('argv must not be empty');
  const files: readonly SandboxFile[] = [...SANDBOX_ETC_FILES, ...spec.files];
  const last = files.at(-1);
  if (!last) throw new Error('a bwrap run has at least the synthetic /etc files');
  const extraInputs = [...SECCOMP_INPUTS, ...files.slice(0, -1).map((f) => f.content), null];
  const infoFd = 3 + extraInputs.length;
  const bwrapArgs = buildBwrapArgs({
    program: resolveProgram(name),
    args: rest,
    dataFiles: files.map((f, i) => ({
      fd: FIRST_FILE_FD + i,
      path: f.path,
      executable: f.executable === true,
    })),
    tmpSizeBytes: spec.limits.tmpSizeMb * 1024 * 1024,
    ...(artifacts ? { artifactsDir: artifacts.hostPath } : {}),
    ...SECCOMP_FD,
    infoFd,
    ...(spec.binds ? { binds: spec.binds } : {}),
    ...(spec.hostDirs ? { hostDirs: spec.hostDirs } : {}),
    ...(spec.env ? { env: spec.env } : {}),
  });
  return {
    argv: [
      ...SETPRIV_NOBODY,
      ...(cgroups ? [] : prlimitPrefix(spec.limits, true)),
      '/usr/bin/bwrap',
      ...bwrapArgs,
    ],
    env: SANDBOX_ENV,
    extraInputs,
    lateInputs: [last.content],
    gate: { infoFd },
    cgroups,
    memoryEnforcement: cgroups ? 'cgroup' : 'rlimit',
    timeoutMs: spec.limits.timeoutSeconds * 1000,
    ...(artifacts ? { artifacts } : {}),
    wrappedExit: true,
  };
}

/** What a pre-spawned sandbox is made for: everything of a spec but the code, stdin and adjustable limits. */
export interface WarmTemplate {
  readonly argv: readonly string[];
  /** Where the code goes inside the sandbox. */
  readonly codePath: string;
  readonly tmpSizeMb: number;
  /** The language's read-only host directories (the same for all its runs). */
  readonly hostDirs?: readonly string[];
  /** The language's environment (Go's cache paths). */
  readonly env?: Readonly<Record<string, string>>;
  /** A stage's `/build` (warm-stages.ts): each pre-spawned pair binds its own build directory there. */
  readonly build?: { readonly path: string; readonly writable: boolean };
}

/**
 * Only specs with exactly one file (the code) can use a pre-spawned sandbox, and without binds: a bind is a
 * per-run host directory (`stages` true: a compile or run stage, whose one `/build` bind the pool supplies).
 */
export function warmTemplateOf(spec: SandboxSpec, stages = false): WarmTemplate | null {
  const [file, ...others] = spec.files;
  if (!file || others.length > 0) return null;
  const binds = spec.binds ?? [];
  if (stages ? binds.length !== 1 : binds.length > 0) return null;
  const build = binds[0];
  return {
    argv: spec.argv,
    codePath: file.path,
    tmpSizeMb: spec.limits.tmpSizeMb,
    ...(spec.hostDirs ? { hostDirs: spec.hostDirs } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    ...(build ? { build: { path: build.path, writable: build.writable } } : {}),
  };
}

/**
 * The bwrap plan of a pre-spawned sandbox: the same as a cold one, except that the code's fd is fed only when
 * an evaluation claims it. bwrap reads --ro-bind-data fds in order while it builds the root, so it stops at the
 * code with the namespaces, mounts and privileges already done, and the program then is the same fresh
 * interpreter, with the same read-only code file, as a cold start gives.
 */
export function bwrapWarmPlan(
  template: WarmTemplate,
  cgroups: RunCgroups,
  artifacts?: ArtifactsMount | null,
  buildHostPath?: string,
): LaunchPlan {
  const build = template.build;
  if (build && !buildHostPath) throw new Error('a stage template needs its build directory');
  const [name, ...rest] = template.argv;
  if (name === undefined) throw new Error('argv must not be empty');
  const paths = [...SANDBOX_ETC_FILES.map((f) => f.path), template.codePath];
  const extraInputs = [...SECCOMP_INPUTS, ...SANDBOX_ETC_FILES.map((f) => f.content), null];
  const infoFd = 3 + extraInputs.length;
  const bwrapArgs = buildBwrapArgs({
    program: resolveProgram(name),
    args: rest,
    dataFiles: paths.map((path, i) => ({ fd: FIRST_FILE_FD + i, path })),
    tmpSizeBytes: template.tmpSizeMb * 1024 * 1024,
    ...(artifacts ? { artifactsDir: artifacts.hostPath } : {}),
    ...SECCOMP_FD,
    infoFd,
    ...(template.hostDirs ? { hostDirs: template.hostDirs } : {}),
    ...(template.env ? { env: template.env } : {}),
    ...(build && buildHostPath
      ? { binds: [{ hostPath: buildHostPath, path: build.path, writable: build.writable }] }
      : {}),
  });
  return {
    argv: [...SETPRIV_NOBODY, '/usr/bin/bwrap', ...bwrapArgs],
    env: SANDBOX_ENV,
    extraInputs,
    gate: { infoFd },
    cgroups,
    memoryEnforcement: 'cgroup',
    ...(artifacts ? { artifacts } : {}),
    // Replaced by the evaluation's own limit when the sandbox is claimed.
    timeoutMs: 0,
    wrappedExit: true,
  };
}

/**
 * The bare sandbox the benchmarks compare against: bwrap with exactly the isolation flags of a run (the same
 * namespaces, mounts, synthetic /etc and seccomp filter), spawned directly, without the wrapper, the drop to
 * uid 65534 or cgroups. `inputs` go to fds 3, 4, ... in order.
 */
export function bareBwrapCommand(argv: readonly string[]): {
  readonly command: string;
  readonly args: string[];
  readonly inputs: readonly (string | Buffer)[];
} {
  const [name, ...rest] = argv;
  if (name === undefined) throw new Error('argv must not be empty');
  const args = buildBwrapArgs({
    program: resolveProgram(name),
    args: rest,
    dataFiles: SANDBOX_ETC_FILES.map((f, i) => ({ fd: FIRST_FILE_FD + i, path: f.path })),
    tmpSizeBytes: DEFAULT_LIMITS.tmpSizeMb * 1024 * 1024,
    ...SECCOMP_FD,
  });
  return {
    command: '/usr/bin/bwrap',
    args,
    inputs: [...SECCOMP_INPUTS, ...SANDBOX_ETC_FILES.map((f) => f.content)],
  };
}
