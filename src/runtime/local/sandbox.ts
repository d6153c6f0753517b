import { createArtifactsMounts, hostMountOps } from './artifacts-mount.js';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutputStream } from '../../core/index.js';
import { bwrapPlan } from './bwrap.js';
import { removeStaleBuildDirs } from './build-dir.js';
import { RunCgroups, cgroupLimitsFor, removeStaleCgroups } from './cgroups.js';
import { gvisorBackend, type GvisorBackend } from './gvisor.js';
import { probeHost } from './host-probe.js';
import { closeInheritedFds } from './inherited-fds.js';
import { nonePlan } from './none.js';
import { runPlan, type LaunchPlan } from './process-run.js';
import type { Sandbox, SandboxHandle, SandboxOptions, SandboxSpec } from './sandbox-types.js';
import { spawnDirect, type Launcher } from './spawned.js';
import { Spawner } from './spawner.js';
import { WarmPool } from './warm-pool.js';
import { WarmStagesPool } from './warm-stages.js';

/** Tasks bwrap itself adds to the pids cgroup (its monitor and the PID-namespace init). */
const BWRAP_TASKS = 2;

/**
 * Probes the host once, removes what a crashed previous server left (its cgroups and their processes,
 * gVisor containers), and returns a sandbox that launches runs with the chosen isolation.
 *
 * @example
 * const sandbox = await createSandbox({ isolation: 'bwrap', stateDir: '/var/lib/crucible' });
 * const run = await sandbox.launch(
 *   { argv: ['python3', '-u', '/code/main.py'], files: [{ path: '/code/main.py', content: 'print(1)' }],
 *     stdin: '', limits: DEFAULT_LIMITS },
 *   (stream, data) => process[stream].write(data));
 * const exit = await run.exited;
 */
export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const warn = options.warn ?? ((message: string) => process.emitWarning(message));
  const host = await probeHost(options.isolation);
  await mkdir(options.stateDir, { recursive: true });
  if (options.isolation === 'bwrap') {
    // bwrap passes every open fd on to the program, and its launches no longer go through a wrapper that
    // closes them: close the ones this process inherited, once, before any sandbox exists.
    const closed = closeInheritedFds();
    if (closed.length > 0) {
      warn(
        `closed ${closed.length} inherited file descriptors (${closed.join(', ')}) so no sandbox receives them`,
      );
    }
  }
  // Compile stages' /build tmpfs of a server that died before unmounting them (build-dir.ts).
  const builds = await removeStaleBuildDirs().catch((error: unknown) => {
    warn(`cannot remove build directories left by a previous server: ${String(error)}`);
    return 0;
  });
  if (builds > 0) warn(`removed ${builds} build directories left by a previous Crucible server`);
  const useCgroups = host.cgroupProblem === null;
  if (useCgroups) {
    const stale = await removeStaleCgroups();
    if (stale > 0) warn(`removed ${stale} cgroups left by a previous Crucible server`);
  } else if (options.isolation !== 'gvisor') {
    warn(`${host.cgroupProblem}; falling back to rlimits (RLIMIT_AS for memory, RLIMIT_NPROC for processes)`);
  }
  if (options.isolation === 'none') {
    warn(
      'isolation "none": programs run on the host with NO isolation (only uid 65534 and limits); development only',
    );
  }
  const gvisor: GvisorBackend | null =
    options.isolation === 'gvisor' ? await gvisorBackend(join(options.stateDir, 'gvisor'), warn) : null;

  // bwrap launches go through the spawner helper when it runs: forking the server per run is the costlier way.
  const spawner =
    options.isolation === 'bwrap' && options.launcher !== 'direct' ? await Spawner.start(warn) : null;
  const launch: Launcher = async (plan) => {
    if (!spawner?.alive || !plan.gate) return spawnDirect(plan);
    try {
      return await spawner.launch(plan);
    } catch (error) {
      // The helper died under this launch: nothing of it ran, so launch it directly instead.
      if (!spawner.alive) return spawnDirect(plan);
      throw error;
    }
  };
  const running = new Set<SandboxHandle>();
  // Each bwrap or gVisor run's /artifacts: a tmpfs of the server's largest cap (docs/artifacts.md).
  const artifacts =
    options.isolation !== 'none' && (options.artifactsMb ?? 0) > 0
      ? createArtifactsMounts(options.artifactsMb!, warn, {
          mount: (target, opts) =>
            spawner?.alive ? spawner.mountOp('mount', target, opts) : hostMountOps.mount(target, opts),
          unmount: (target) =>
            spawner?.alive ? spawner.mountOp('umount', target) : hostMountOps.unmount(target),
        })
      : null;
  // Pre-spawned sandboxes need cgroups to take each evaluation's limits after they were built.
  const poolOptions = {
    perTemplate: options.warmPoolSize ?? 2,
    extraTasks: BWRAP_TASKS,
    warn,
    launch,
    artifacts,
  };
  const pool =
    options.isolation === 'bwrap' && useCgroups && poolOptions.perTemplate > 0
      ? new WarmPool(poolOptions)
      : null;
  // Compile stages bind a per-evaluation /build: pre-spawned in pairs that bring their own (warm-stages.ts).
  const stagesPool = pool ? new WarmStagesPool(poolOptions) : null;
  let runNumber = 0;
  const track = (handle: SandboxHandle): SandboxHandle => {
    running.add(handle);
    void handle.exited.then(() => running.delete(handle));
    return handle;
  };

  async function plan(spec: SandboxSpec): Promise<LaunchPlan> {
    if (gvisor) return gvisor.plan(spec, spec.collectArtifacts ? await artifacts?.create() : null);
    const extraTasks = options.isolation === 'bwrap' ? BWRAP_TASKS : 0;
    const cgroups = useCgroups ? await RunCgroups.create(cgroupLimitsFor(spec.limits, extraTasks)) : null;
    try {
      if (options.isolation === 'bwrap') {
        return bwrapPlan(spec, cgroups, spec.collectArtifacts ? await artifacts?.create() : null);
      }
      // Not under stateDir: the server's data directory is private (0700), and uid 65534 must read these files.
      const runDir = join(tmpdir(), 'crucible-none-runs', `${process.pid}-${++runNumber}`);
      return await nonePlan(spec, cgroups, runDir);
    } catch (error) {
      await cgroups?.remove();
      throw error;
    }
  }

  return {
    isolation: options.isolation,
    async launch(spec: SandboxSpec, onOutput: (stream: OutputStream, data: Buffer) => void) {
      const handle =
        pool?.launch(spec, onOutput) ?? (await runPlan(await plan(spec), spec.stdin, onOutput, warn, launch));
      running.add(handle);
      void handle.exited.then(() => {
        running.delete(handle);
        // A pre-spawned sandbox has one whoever claims it; a caller that does not collect lets it go.
        if (!spec.collectArtifacts) void handle.artifacts?.release();
      });
      return handle;
    },
    ...(stagesPool
      ? {
          launchStages(compile, run, buildSizeMb, onOutput, runs) {
            const stages = stagesPool.launch(compile, run, buildSizeMb, onOutput, runs);
            if (!stages) return null;
            track(stages.compile);
            return {
              ...stages,
              run: async (spec, output) => {
                const handle = await stages.run(spec, output);
                if (!handle) return null;
                // As `launch`: a caller that does not collect the run's /artifacts lets them go.
                if (!spec.collectArtifacts) void handle.exited.then(() => handle.artifacts?.release());
                return track(handle);
              },
            };
          },
        }
      : {}),
    async close() {
      await stagesPool?.close();
      await pool?.close();
      await Promise.all([...running].map((h) => h.kill()));
      await spawner?.close();
      await artifacts?.close();
    },
  };
}
