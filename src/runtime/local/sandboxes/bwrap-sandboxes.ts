import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../../sandbox/agent-client.js';
import { prepareAgent } from '../../sandbox/prepare.js';
import type {
  InstanceExit,
  SandboxInstance,
  SandboxInstanceLimits,
  SandboxInstanceSpec,
} from '../../sandbox/sandbox-runtime.js';
import { buildBwrapArgs, SANDBOX_ENV, SANDBOX_ETC_FILES } from '../bwrap-args.js';
import { RunCgroups, type CgroupLimits } from '../cgroups.js';
import { SANDBOX_NODE_PATH } from '../interpreters.js';
import type { LaunchPlan } from '../process-run.js';
import { SETPRIV_NOBODY } from '../rlimits.js';
import { SECCOMP_FILTER } from '../seccomp.js';
import { killGroup, spawnDirect, type SpawnedProcess } from '../spawned.js';

/** Where the agent (the static runner) appears inside a local sandbox. */
export const SANDBOX_AGENT_PATH = '/opt/crucible/agent';
/** Tasks bwrap adds (its monitor) plus the agent itself, the sandbox's PID 1. */
const OVERHEAD_TASKS = 2;

/** The static runner built by `node scripts/setup.mjs --runner`. */
export function defaultAgentBinary(): string {
  return fileURLToPath(new URL('../../../../runner/target/crucible-runner', import.meta.url));
}

export function loadAgentBinary(path: string): Buffer {
  if (!existsSync(path)) {
    throw new Error(
      `the sandbox agent ${path} is missing: build it with \`node scripts/setup.mjs --runner\``,
    );
  }
  return readFileSync(path);
}

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

/** A started bwrap sandbox whose agent answered `ready`, not yet given a spec (a warm one, or a cold one). */
export interface BootedSandbox {
  readonly client: AgentClient;
  readonly cgroups: RunCgroups | null;
  readonly limits: CgroupLimits;
  readonly process: SpawnedProcess;
  readonly startedAt: Date;
  readonly alive: () => boolean;
  kill(): Promise<void>;
}

/** Spawns a sandbox with its agent and waits for the agent's `ready`. */
export async function bootSandbox(
  limits: SandboxInstanceLimits,
  agent: Buffer,
  useCgroups: boolean,
  warn: (message: string) => void,
): Promise<BootedSandbox> {
  const cgroupLimits = cgroupLimitsOf(limits);
  const cgroups = useCgroups ? await RunCgroups.create(cgroupLimits) : null;
  let proc: SpawnedProcess;
  try {
    proc = await spawnDirect(agentSandboxPlan(limits, cgroups));
  } catch (error) {
    await cgroups?.remove();
    throw error;
  }
  for (const input of proc.deferred) {
    input.on('error', () => undefined);
    input.end(agent);
  }
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  proc.stdin.on('error', () => undefined);
  const client = new AgentClient(Duplex.from({ readable: proc.stdout, writable: proc.stdin }));
  let killed: Promise<void> | null = null;
  const kill = () =>
    (killed ??= (async () => {
      if (proc.running) killGroup(proc.pid);
      await cgroups?.killAll();
      await proc.closed.catch(() => undefined);
      await cgroups?.remove().catch((e: unknown) => warn(`cannot remove sandbox cgroups: ${String(e)}`));
    })());
  try {
    await Promise.race([
      client.ready,
      proc.exit.then(([code]) => {
        throw new Error(`the sandbox exited (${code}) before its agent was ready: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    client,
    cgroups,
    limits: cgroupLimits,
    process: proc,
    startedAt: new Date(),
    alive: () => proc.running && client.alive,
    kill,
  };
}

/** The cgroup v1 OOM-kill count of a sandbox (memory.oom_control), or null without cgroups. */
function oomKillCount(cgroups: RunCgroups | null): number | null {
  if (!cgroups) return null;
  try {
    const text = readFileSync(
      join('/sys/fs/cgroup/memory/crucible', cgroups.name, 'memory.oom_control'),
      'utf8',
    );
    return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? '0');
  } catch {
    return null;
  }
}

/** Hands a booted sandbox out for `spec`: its limits, env and initial files. */
export async function claimSandbox(
  booted: BootedSandbox,
  spec: SandboxInstanceSpec,
): Promise<SandboxInstance> {
  const wanted = cgroupLimitsOf(spec.limits);
  booted.cgroups?.setLimits(booted.limits, wanted);
  await prepareAgent(booted.client, spec);
  let destroyed = false;
  const ended = new Promise<InstanceExit>((resolve) => {
    void booted.process.exit.then(() => {
      if (destroyed) return;
      const oom = (oomKillCount(booted.cgroups) ?? 0) > 0;
      resolve({
        reason: oom ? 'oom' : 'crashed',
        message: oom ? 'the sandbox ran out of memory and its agent was killed' : 'the sandbox agent exited',
      });
      void booted.kill();
    });
  });
  return {
    sandboxId: spec.sandboxId,
    startedAt: booted.startedAt,
    ended,
    connect: () =>
      booted.client.alive
        ? Promise.resolve(booted.client)
        : Promise.reject(new Error('the local sandbox agent is gone')),
    oomKills: () => Promise.resolve(oomKillCount(booted.cgroups)),
    async destroy() {
      destroyed = true;
      booted.client.shutdown();
      await booted.kill();
    },
  };
}
