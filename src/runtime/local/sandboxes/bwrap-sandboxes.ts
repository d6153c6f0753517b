import type { SandboxInstanceLimits } from '../../sandbox/sandbox-runtime.js';
import { buildBwrapArgs, SANDBOX_ENV, SANDBOX_ETC_FILES } from '../bwrap-args.js';
import type { CgroupLimits, RunCgroups } from '../cgroups.js';
import { SANDBOX_NODE_PATH } from '../interpreters.js';
import type { LaunchPlan } from '../process-run.js';
import { SETPRIV_NOBODY } from '../rlimits.js';
import { SECCOMP_FILTER } from '../seccomp.js';
import { SANDBOX_AGENT_PATH, type AgentLauncher } from './agent-launcher.js';

/** Tasks bwrap adds (its monitor) plus the agent itself, the sandbox's PID 1. */
const OVERHEAD_TASKS = 2;

export function cgroupLimitsOf(limits: SandboxInstanceLimits): CgroupLimits {
  return { memoryBytes: limits.memoryMb * 1024 * 1024, maxTasks: limits.maxProcesses + OVERHEAD_TASKS };
}

/**
 * The bwrap command line of an interactive sandbox: exactly an evaluation's isolation (buildBwrapArgs: the
 * same namespaces, read-only root, synthetic /etc, capped /tmp, seccomp, no network), plus a size-capped
 * tmpfs `/workspace` owned by the sandbox user, the agent delivered as a read-only data file (the last one,
 * fed once bwrap is in the sandbox's cgroups) and Node bound as for evaluations.
 */
export function agentSandboxPlan(
  limits: Pick<SandboxInstanceLimits, 'workspaceMb' | 'tmpSizeMb'>,
  cgroups: RunCgroups | null,
): LaunchPlan {
  const firstFileFd = SECCOMP_FILTER ? 4 : 3;
  const files = [
    ...SANDBOX_ETC_FILES.map((f) => ({ path: f.path })),
    { path: SANDBOX_AGENT_PATH, executable: true },
  ];
  const extraInputs = [
    ...(SECCOMP_FILTER ? [SECCOMP_FILTER] : []),
    ...SANDBOX_ETC_FILES.map((f) => f.content),
    null,
  ];
  const infoFd = 3 + extraInputs.length;
  const args = buildBwrapArgs({
    program: {
      hostPath: SANDBOX_AGENT_PATH,
      sandboxPath: SANDBOX_AGENT_PATH,
      extraBind: { source: process.execPath, dest: SANDBOX_NODE_PATH },
    },
    args: ['agent', '--workspace', '/workspace'],
    dataFiles: files.map((f, i) => ({ fd: firstFileFd + i, ...f })),
    tmpSizeBytes: limits.tmpSizeMb * 1024 * 1024,
    ...(SECCOMP_FILTER ? { seccompFd: 3 } : {}),
    infoFd,
  });
  const afterDev = args.findIndex((a, i) => a === '--remount-ro' && args[i + 1] === '/dev') + 2;
  // prettier-ignore
  args.splice(afterDev, 0, '--perms', '0755', '--size', String(limits.workspaceMb * 1024 * 1024), '--tmpfs', '/workspace');
  // The agent is the sandbox's PID 1 (it reaps orphans itself): the kernel drops signals a program sends
  // its namespace's init, so `kill(-1, SIGKILL)` inside cannot take the agent, and the sandbox, down.
  args.splice(args.indexOf('--'), 0, '--as-pid-1');
  const chdir = args.indexOf('--chdir');
  args[chdir + 1] = '/workspace';
  return {
    argv: [...SETPRIV_NOBODY, '/usr/bin/bwrap', ...args],
    env: SANDBOX_ENV,
    extraInputs,
    gate: { infoFd },
    cgroups,
    memoryEnforcement: cgroups ? 'cgroup' : 'rlimit',
    timeoutMs: 0,
    wrappedExit: true,
  };
}

/** Local bwrap sandboxes: the agent enters as the plan's deferred data file (see agentSandboxPlan). */
export const bwrapAgentLauncher: AgentLauncher = {
  name: 'bwrap',
  agentInput: true,
  cgroupLimits: cgroupLimitsOf,
  plan: (limits, cgroups) => Promise.resolve(agentSandboxPlan(limits, cgroups)),
};
