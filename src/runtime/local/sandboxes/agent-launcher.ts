import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
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
import { RunCgroups, type CgroupLimits } from '../cgroups.js';
import type { LaunchPlan } from '../process-run.js';
import { killGroup, spawnDirect, type SpawnedProcess } from '../spawned.js';

/** Where the agent (the static runner) appears inside a local sandbox. */
export const SANDBOX_AGENT_PATH = '/opt/crucible/agent';

/**
 * How one local isolation starts a sandbox whose agent talks on the sandbox's stdin/stdout: bwrap
 * (bwrap-sandboxes.ts) or gVisor (gvisor-sandboxes.ts). Booting, claiming and tearing down are shared.
 */
export interface AgentLauncher {
  readonly name: 'bwrap' | 'gvisor';
  /** The agent binary is fed as the plan's deferred input (bwrap's gate); otherwise the plan binds it. */
  readonly agentInput: boolean;
  /** The cgroup limits that give the sandbox `limits` (gVisor adds its sentry's share). */
  cgroupLimits(limits: SandboxInstanceLimits): CgroupLimits;
  plan(limits: SandboxInstanceLimits, cgroups: RunCgroups | null): Promise<LaunchPlan>;
  /** gVisor: saves a running sandbox, memory and processes included, and starts one from that image. */
  readonly checkpointer?: {
    /** Writes the image of the sandbox launched by `plan` under `dir` and stops it. */
    checkpoint(plan: LaunchPlan, dir: string): Promise<void>;
    restorePlan(limits: SandboxInstanceLimits, cgroups: RunCgroups | null, dir: string): Promise<LaunchPlan>;
  };
}

/** Saved next to a checkpoint image: what the host side needs to talk to the restored agent. */
export const AGENT_STATE_FILE = 'crucible-agent.json';

/** A sandbox to boot from a checkpoint image instead of afresh. */
export interface RestoreFrom {
  readonly dir: string;
  readonly nextRequestId: number;
}

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

/** A started sandbox whose agent answered `ready`, not yet given a spec (a warm one, or a cold one). */
export interface BootedSandbox {
  readonly launcher: AgentLauncher;
  readonly plan: LaunchPlan;
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
  launcher: AgentLauncher,
  agent: Buffer,
  useCgroups: boolean,
  warn: (message: string) => void,
  restore?: RestoreFrom,
): Promise<BootedSandbox> {
  const cgroupLimits = launcher.cgroupLimits(limits);
  const cgroups = useCgroups ? await RunCgroups.create(cgroupLimits) : null;
  let proc: SpawnedProcess;
  let plan: LaunchPlan | null = null;
  try {
    plan = restore
      ? await launcher.checkpointer!.restorePlan(limits, cgroups, restore.dir)
      : await launcher.plan(limits, cgroups);
    proc = await spawnDirect(plan);
  } catch (error) {
    await plan?.cleanup?.();
    await cgroups?.remove();
    throw error;
  }
  for (const input of proc.deferred) {
    input.on('error', () => undefined);
    input.end(launcher.agentInput ? agent : Buffer.alloc(0));
  }
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  proc.stdin.on('error', () => undefined);
  const client = new AgentClient(
    Duplex.from({ readable: proc.stdout, writable: proc.stdin }),
    restore ? { nextRequestId: restore.nextRequestId } : undefined,
  );
  const launched = plan;
  let killed: Promise<void> | null = null;
  const kill = () =>
    (killed ??= (async () => {
      if (proc.running) killGroup(proc.pid);
      await launched.stop?.();
      await cgroups?.killAll();
      await proc.closed.catch(() => undefined);
      await launched.cleanup?.().catch((e: unknown) => warn(`cannot clean a sandbox up: ${String(e)}`));
      await cgroups?.remove().catch((e: unknown) => warn(`cannot remove sandbox cgroups: ${String(e)}`));
    })());
  try {
    await Promise.race([
      // A restored agent sends no `ready`: a listing of /workspace shows it answers.
      restore ? client.list('') : client.ready,
      proc.exit.then(([code]) => {
        throw new Error(`the sandbox exited (${code}) before its agent was ready: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    launcher,
    plan: launched,
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

/**
 * Hands a booted sandbox out for `spec`: its limits, env and initial files (a restored one has its env and
 * files already).
 */
export async function claimSandbox(
  booted: BootedSandbox,
  spec: SandboxInstanceSpec,
  restored = false,
): Promise<SandboxInstance> {
  const wanted = booted.launcher.cgroupLimits(spec.limits);
  booted.cgroups?.setLimits(booted.limits, wanted);
  if (!restored) await prepareAgent(booted.client, spec);
  let destroyed = false;
  const checkpointer = booted.launcher.checkpointer;
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
    ...(checkpointer && {
      async checkpoint(dir: string) {
        // The container stops when its image is written: that end is ours, not a crash.
        destroyed = true;
        const state = { nextRequestId: booted.client.nextRequestId };
        await checkpointer.checkpoint(booted.plan, dir);
        await writeFile(join(dir, AGENT_STATE_FILE), JSON.stringify(state));
        await booted.kill();
        return true;
      },
    }),
    async destroy() {
      destroyed = true;
      booted.client.shutdown();
      await booted.kill();
    },
  };
}
