import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SandboxInstanceLimits } from '../../sandbox/sandbox-runtime.js';
import { SANDBOX_ETC_FILES } from '../bwrap-args.js';
import type { CgroupLimits, RunCgroups } from '../cgroups.js';
import {
  HOST_TASKS_PER_PROCESS,
  ociConfig,
  prepareGvisorDir,
  RUNSC,
  runscContainer,
  SENTRY_OVERHEAD_MB,
  SENTRY_TASKS,
  type OciMount,
} from '../gvisor.js';
import { SANDBOX_NODE_PATH } from '../interpreters.js';
import type { LaunchPlan } from '../process-run.js';
import { SANDBOX_AGENT_PATH, type AgentLauncher } from './agent-launcher.js';

const run = promisify(execFile);
/** The agent's real and saved uid/gid, and the sandbox user's (its effective ids and every program's). */
const AGENT_IDENTITY = '65533:65534';

/** The cgroup of a gVisor sandbox holds the sentry and gofer too (their share, as for evaluations). */
export function gvisorCgroupLimits(limits: SandboxInstanceLimits): CgroupLimits {
  return {
    memoryBytes: (limits.memoryMb + SENTRY_OVERHEAD_MB) * 1024 * 1024,
    maxTasks: limits.maxProcesses * HOST_TASKS_PER_PROCESS + SENTRY_TASKS,
  };
}

/**
 * Interactive sandboxes under gVisor: the evaluation's OCI bundle (gvisor.ts `ociConfig`: read-only minimal
 * root with only /usr bound, synthetic /etc, sized tmpfs /tmp and /dev/shm, uid 65534 without capabilities,
 * RLIMIT_NPROC, `--network=none`, the whole sandbox in our memory and pids cgroups) plus a size-capped tmpfs
 * `/workspace` owned by the sandbox user, and the agent bound read-only as the container's process: it is
 * the sandbox's PID 1 and talks over `runsc run`'s stdin/stdout, which runsc hands to it. The workspace
 * tmpfs lives in the sentry's memory, so it counts against the sandbox's memory limit, as with bwrap.
 *
 * `dir` is shared with the evaluation backend's rootfs (`<state>/gvisor`); the containers have their own
 * runsc root so the evaluation backend's start-up clean-up never sees them (and vice versa).
 */
export async function gvisorAgentLauncher(
  dir: string,
  agentPath: string,
  warn: (message: string) => void,
): Promise<AgentLauncher> {
  const { rootfs, state, bundles } = await prepareGvisorDir(dir, 'sandbox-', warn);
  let number = 0;
  const containers = new WeakMap<LaunchPlan, string>();
  /** Writes a fresh bundle and returns the plan running `command` (`run` or `restore …`) on it. */
  async function launch(
    limits: SandboxInstanceLimits,
    cgroups: RunCgroups | null,
    command: readonly string[],
  ): Promise<LaunchPlan> {
    // `crucible-<pid>-…`: removeStaleContainers reads the owner's pid from the second field.
    const id = `crucible-${process.pid}-sbx${++number}`;
    const bundle = join(bundles, id);
    await writeBundle(bundle, rootfs, agentPath, limits);
    const plan: LaunchPlan = {
      ...runscContainer(state, id, bundle, command),
      env: { PATH: '/usr/bin:/bin' },
      extraInputs: [],
      cgroups,
      memoryEnforcement: cgroups ? 'cgroup' : 'rlimit',
      timeoutMs: 0,
      wrappedExit: true,
    };
    containers.set(plan, id);
    return plan;
  }
  return {
    name: 'gvisor',
    agentInput: false,
    cgroupLimits: gvisorCgroupLimits,
    plan: (limits, cgroups) => launch(limits, cgroups, ['run']),
    checkpointer: {
      // The container stops once its image is written (runsc checkpoint's default).
      async checkpoint(plan, dir) {
        const id = containers.get(plan);
        if (!id) throw new Error('not a gVisor sandbox of this runtime');
        await run(RUNSC, ['--root', state, 'checkpoint', '--image-path', dir, id]);
      },
      restorePlan: (limits, cgroups, dir) => launch(limits, cgroups, ['restore', '--image-path', dir]),
    },
  };
}

/** The OCI bundle of one sandbox container (also of one restored from a checkpoint: same mounts). */
async function writeBundle(
  bundle: string,
  rootfs: string,
  agentPath: string,
  limits: SandboxInstanceLimits,
): Promise<void> {
  const mounts: OciMount[] = [];
  for (const [i, file] of SANDBOX_ETC_FILES.entries()) {
    const hostPath = join(bundle, 'files', String(i));
    await mkdir(join(bundle, 'files'), { recursive: true });
    await writeFile(hostPath, file.content, { mode: 0o444 });
    mounts.push({ destination: file.path, type: 'bind', source: hostPath, options: ['bind', 'ro'] });
  }
  mounts.push(
    { destination: SANDBOX_AGENT_PATH, type: 'bind', source: agentPath, options: ['bind', 'ro'] },
    { destination: SANDBOX_NODE_PATH, type: 'bind', source: process.execPath, options: ['bind', 'ro'] },
    {
      destination: '/workspace',
      type: 'tmpfs',
      source: 'tmpfs',
      // prettier-ignore
      options: ['nosuid', 'nodev', 'mode=0755', 'uid=65534', 'gid=65534', `size=${limits.workspaceMb}m`],
    },
  );
  const config = ociConfig(
    { limits: { maxProcesses: limits.maxProcesses, tmpSizeMb: limits.tmpSizeMb } },
    rootfs,
    [
      SANDBOX_AGENT_PATH,
      'agent',
      '--workspace',
      '/workspace',
      '--split-identity',
      AGENT_IDENTITY,
      '--pty-signals',
    ],
    mounts,
  ) as { process: { cwd: string; user: object; capabilities: object } };
  // gVisor (20221219) delivers a SIGKILL from inside the sandbox to its PID 1, which Linux never does.
  // So the agent starts as root with only CAP_SETUID, CAP_SETGID and CAP_SETPCAP, empties the bounding
  // set and splits its identity at once (runner/src/agent/sys.rs): programs, all the sandbox user,
  // cannot signal it, and nothing in the sandbox keeps a capability.
  config.process.user = { uid: 0, gid: 0 };
  const setid = ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP'];
  config.process.capabilities = {
    bounding: setid,
    effective: setid,
    permitted: setid,
    inheritable: [],
    ambient: [],
  };
  config.process.cwd = '/workspace';
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
}
