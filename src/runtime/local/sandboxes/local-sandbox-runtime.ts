import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type {
  CheckpointingRuntime,
  SandboxInstance,
  SandboxInstanceLimits,
  SandboxInstanceSpec,
  SandboxRuntime,
} from '../../sandbox/sandbox-runtime.js';
import { probeCgroups } from '../cgroups.js';
import {
  bootSandbox,
  claimSandbox,
  defaultAgentBinary,
  loadAgentBinary,
  AGENT_STATE_FILE,
  type AgentLauncher,
  type BootedSandbox,
  type RestoreFrom,
} from './agent-launcher.js';
import { bwrapAgentLauncher } from './bwrap-sandboxes.js';
import { gvisorAgentLauncher } from './gvisor-sandboxes.js';

export interface LocalSandboxRuntimeOptions {
  /** bwrap (default) or gVisor (`runsc`), the same choice as the server's `--sandbox` for evaluations. */
  readonly isolation?: 'bwrap' | 'gvisor';
  /** Where gVisor keeps its rootfs, bundles and container state (default a directory under the tmpdir). */
  readonly stateDir?: string;
  /** Booted sandboxes kept per workspace and /tmp size (default 2; 0 turns the pool off). */
  readonly warmPoolSize?: number;
  /** The static runner (default runner/target/crucible-runner). */
  readonly agentBinary?: string;
  readonly warn?: (message: string) => void;
}

/** Limits a pooled sandbox boots with; a claim replaces them with the sandbox's own (cgroups are adjustable). */
const POOL_BOOT_LIMITS = { memoryMb: 256, maxProcesses: 64, cpus: null } as const;

/**
 * Interactive sandboxes on this host with bwrap: each one stays up between calls with its agent on the
 * sandbox's stdin/stdout. A warm pool keeps sandboxes booted (namespaces, mounts, cgroups, agent ready) per
 * workspace and /tmp size — the two things fixed at boot — and a claim then only sets the sandbox's own
 * memory and process limits, env and files, so a customised sandbox still starts warm.
 */
export async function createLocalSandboxRuntime(
  options: LocalSandboxRuntimeOptions = {},
): Promise<SandboxRuntime> {
  const warn = options.warn ?? ((message: string) => process.emitWarning(message));
  const agentPath = options.agentBinary ?? defaultAgentBinary();
  const agent = loadAgentBinary(agentPath);
  const launcher: AgentLauncher =
    options.isolation === 'gvisor'
      ? await gvisorAgentLauncher(options.stateDir ?? join(tmpdir(), 'crucible-gvisor'), agentPath, warn)
      : bwrapAgentLauncher;
  const cgroupProblem = await probeCgroups();
  const useCgroups = cgroupProblem === null;
  if (!useCgroups) warn(`${cgroupProblem}; interactive sandboxes run without memory and process limits`);
  const perKind = useCgroups ? (options.warmPoolSize ?? 2) : 0;
  const idle = new Map<string, BootedSandbox[]>();
  const filling = new Set<string>();
  const refills = new Set<Promise<void>>();
  const live = new Set<SandboxInstance>();
  let closed = false;

  const keyOf = (limits: SandboxInstanceLimits) => `${limits.workspaceMb}/${limits.tmpSizeMb}`;

  function refill(limits: SandboxInstanceLimits): void {
    const key = keyOf(limits);
    if (perKind === 0 || closed || filling.has(key)) return;
    filling.add(key);
    const filled = (async () => {
      try {
        while (!closed && (idle.get(key)?.length ?? 0) < perKind) {
          const booted = await bootSandbox(
            { ...limits, ...POOL_BOOT_LIMITS },
            launcher,
            agent,
            useCgroups,
            warn,
          );
          if (closed) {
            await booted.kill();
            break;
          }
          idle.set(key, [...(idle.get(key) ?? []), booted]);
        }
      } catch (error) {
        warn(`cannot boot a warm interactive sandbox: ${String(error)}`);
      } finally {
        filling.delete(key);
      }
    })();
    refills.add(filled);
    void filled.finally(() => refills.delete(filled));
  }

  function takeWarm(limits: SandboxInstanceLimits): BootedSandbox | null {
    const list = idle.get(keyOf(limits)) ?? [];
    let booted = list.shift();
    while (booted && !booted.alive()) {
      void booted.kill();
      booted = list.shift();
    }
    return booted ?? null;
  }

  /** Claims `booted` for `spec` and tracks the instance until it ends, so `close` can destroy it. */
  async function handOut(booted: BootedSandbox, spec: SandboxInstanceSpec, restored: boolean) {
    try {
      const instance = await claimSandbox(booted, spec, restored);
      live.add(instance);
      void instance.ended.then(() => live.delete(instance));
      const destroy = instance.destroy.bind(instance);
      return {
        ...instance,
        async destroy() {
          live.delete(instance);
          await destroy();
        },
      };
    } catch (error) {
      await booted.kill();
      throw error;
    }
  }

  const runtime: SandboxRuntime = {
    name: launcher.name,
    async create(spec: SandboxInstanceSpec): Promise<SandboxInstance> {
      if (closed) throw new Error('the sandbox runtime is closed');
      const booted =
        takeWarm(spec.limits) ?? (await bootSandbox(spec.limits, launcher, agent, useCgroups, warn));
      refill(spec.limits);
      return handOut(booted, spec, false);
    },
    async close() {
      closed = true;
      // A boot in flight ends (and kills what it booted) before close resolves: a process exiting right
      // after close must not leave a half-started sandbox behind.
      await Promise.all([...refills]);
      const pooled = [...idle.values()].flat();
      idle.clear();
      await Promise.all([...pooled.map((b) => b.kill()), ...[...live].map((i) => i.destroy())]);
    },
  };
  if (!launcher.checkpointer) return runtime;
  const checkpointing: CheckpointingRuntime = {
    ...runtime,
    async restoreCheckpoint(spec: SandboxInstanceSpec, dir: string): Promise<SandboxInstance> {
      if (closed) throw new Error('the sandbox runtime is closed');
      const saved = JSON.parse(await readFile(join(dir, AGENT_STATE_FILE), 'utf8')) as RestoreFrom;
      const restore = { dir, nextRequestId: saved.nextRequestId };
      const booted = await bootSandbox(spec.limits, launcher, agent, useCgroups, warn, restore);
      return handOut(booted, spec, true);
    },
  };
  return checkpointing;
}
