import { buildBwrapArgs, SANDBOX_ENV, SANDBOX_ETC_FILES } from './bwrap-args.js';
import type { RunCgroups } from './cgroups.js';
import { resolveProgram } from './interpreters.js';
import type { LaunchPlan } from './process-run.js';
import { prlimitPrefix, SETPRIV_NOBODY } from './rlimits.js';
import type { SandboxSpec } from './sandbox-types.js';

/**
 * bwrap plan: `sh` (joins the cgroups) → setpriv (drops to 65534) → bwrap (namespaces, mounts) → program.
 * The code and the synthetic /etc reach the sandbox through inherited fds, so no host file the program
 * could later influence is ever written.
 */
export function bwrapPlan(spec: SandboxSpec, cgroups: RunCgroups | null): LaunchPlan {
  const [name, ...rest] = spec.argv;
  if (name === undefined) throw new Error('argv must not be empty');
  const files = [...SANDBOX_ETC_FILES, ...spec.files];
  const bwrapArgs = buildBwrapArgs({
    program: resolveProgram(name),
    args: rest,
    dataFiles: files.map((f, i) => ({ fd: 3 + i, path: f.path })),
    tmpSizeBytes: spec.limits.tmpSizeMb * 1024 * 1024,
  });
  return {
    argv: [...SETPRIV_NOBODY, ...(cgroups ? [] : prlimitPrefix(spec.limits, true)), '/usr/bin/bwrap', ...bwrapArgs],
    env: SANDBOX_ENV,
    extraInputs: files.map((f) => f.content),
    cgroups,
    memoryEnforcement: cgroups ? 'cgroup' : 'rlimit',
    timeoutMs: spec.limits.timeoutSeconds * 1000,
    wrappedExit: true,
  };
}
