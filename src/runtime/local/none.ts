import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SANDBOX_ENV } from './bwrap-args.js';
import type { RunCgroups } from './cgroups.js';
import { resolveProgram } from './interpreters.js';
import type { LaunchPlan } from './process-run.js';
import { prlimitPrefix, SETPRIV_NOBODY } from './rlimits.js';
import type { SandboxSpec } from './sandbox-types.js';

const NOBODY = 65534;

/**
 * No isolation, for development only: the program runs as 65534 on the host with rlimits (and cgroups when
 * available). Files are written under `<stateDir>/runs/<run>/` and argv entries naming a file path are
 * rewritten to the host copy, because there is no mount namespace to place them at their sandbox path.
 */
export async function nonePlan(
  spec: SandboxSpec,
  cgroups: RunCgroups | null,
  runDir: string,
): Promise<LaunchPlan> {
  const [name, ...rest] = spec.argv;
  if (name === undefined) throw new Error('argv must not be empty');
  const hostPaths = new Map<string, string>();
  const tmp = join(runDir, 'tmp');
  await mkdir(tmp, { recursive: true });
  await chown(tmp, NOBODY, NOBODY);
  for (const file of spec.files) {
    const hostPath = join(runDir, 'files', file.path);
    await mkdir(dirname(hostPath), { recursive: true });
    await writeFile(hostPath, file.content, { mode: file.executable ? 0o555 : 0o444 });
    hostPaths.set(file.path, hostPath);
  }
  // No mount namespace either for bound directories (a compile stage's /build): rewrite paths below them.
  const onHost = (arg: string): string => {
    const bind = spec.binds?.find((b) => arg === b.path || arg.startsWith(`${b.path}/`));
    return hostPaths.get(arg) ?? (bind ? bind.hostPath + arg.slice(bind.path.length) : arg);
  };
  const program = resolveProgram(name);
  return {
    argv: [
      ...SETPRIV_NOBODY,
      ...prlimitPrefix(spec.limits, cgroups === null),
      onHost(program.hostPath),
      ...rest.map(onHost),
    ],
    env: { ...SANDBOX_ENV, ...spec.env, HOME: tmp, TMPDIR: tmp },
    cwd: tmp,
    extraInputs: [],
    cgroups,
    memoryEnforcement: cgroups ? 'cgroup' : 'rlimit',
    timeoutMs: spec.limits.timeoutSeconds * 1000,
    wrappedExit: false,
    cleanup: () => rm(runDir, { recursive: true, force: true }),
  };
}
