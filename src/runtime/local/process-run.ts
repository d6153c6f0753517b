import type { ArtifactsMount } from './artifacts-mount.js';
import type { MemoryEnforcement, OutputStream } from '../../core/index.js';
import type { CgroupStats, RunCgroups } from './cgroups.js';
import type { SandboxExit, SandboxHandle } from './sandbox-types.js';
import { feed, killGroup, spawnDirect, type Launcher, type SpawnedProcess } from './spawned.js';
import { translateWrappedExit } from './signals.js';

/** Everything an isolation backend decides; this file only runs it and watches it. */
export interface LaunchPlan {
  /** The argv to exec once the wrapper joined the cgroups (or directly when there are none). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /**
   * Written to fds 3, 4, ... and closed (bwrap --ro-bind-data reads them until EOF). `null` marks an input
   * given only when the run starts (the code of a pre-spawned sandbox).
   */
  readonly extraInputs: readonly (string | Buffer | null)[];
  readonly cgroups: RunCgroups | null;
  readonly memoryEnforcement: MemoryEnforcement;
  readonly timeoutMs: number;
  /** The program runs under an init reporting death by signal N as 128+N (bwrap, runsc). */
  readonly wrappedExit: boolean;
  /**
   * Set for bwrap: argv is spawned as it is, without the wrapper, and bwrap reports its sandbox process on
   * this fd (the one after the extra inputs). A deferred input (`null` in `extraInputs`) holds bwrap at that
   * data fd, its gate; both bwrap processes are moved into the cgroups before it is fed (see gate.ts).
   * Inherited fds are not closed on this path: the sandbox closes the server's own once (inherited-fds.ts).
   */
  readonly gate?: { readonly infoFd: number };
  /** Contents of the deferred inputs of a run started at once (the cold path), fed when it starts. */
  readonly lateInputs?: readonly (string | Buffer)[];
  /** Extra stop step for backends whose processes are not all ours to signal (runsc kill). */
  readonly stop?: () => Promise<void>;
  /** Runs after every process is dead and the stats were read. */
  readonly cleanup?: () => Promise<void>;
  /** The run's `/artifacts`: handed to the handle, released by whoever collects it (or on discard). */
  readonly artifacts?: ArtifactsMount;
}

const NO_STATS: CgroupStats = { cpuTimeMs: null, peakMemoryBytes: null, oomKilled: false };

export interface RunIo {
  readonly stdin: string | Buffer;
  /** Contents for the plan's deferred inputs (`null` entries of `extraInputs`), in order. */
  readonly lateInputs: readonly (string | Buffer)[];
  readonly onOutput: (stream: OutputStream, data: Buffer) => void;
  readonly timeoutMs: number;
}

/**
 * A spawned sandbox whose program has not been given its input yet. The cold path starts it at once; the warm
 * pool spawns it ahead of time and starts it when an evaluation claims it, which takes namespace and mount
 * set-up off the evaluation's critical path.
 */
export interface PreparedRun {
  /** False once the process has died (a pooled sandbox must then be thrown away, not started). */
  readonly alive: boolean;
  /** Feeds the inputs, starts the clock and returns the handle. Call once. */
  start(io: RunIo): SandboxHandle;
  /** Kills a run that was never started and releases its resources. */
  discard(): Promise<void>;
}

/** Spawns a plan and resolves once the wrapper process exists; output is forwarded only after `start`. */
export async function prepareRun(
  plan: LaunchPlan,
  warn: (message: string) => void,
  launch: Launcher = spawnDirect,
): Promise<PreparedRun> {
  let proc: SpawnedProcess;
  try {
    proc = await launch(plan);
  } catch (error) {
    await plan.cgroups?.remove();
    await plan.cleanup?.();
    await plan.artifacts?.release();
    throw error;
  }
  const { closed, exit } = proc;

  let timedOut = false;
  let killed = false;
  let started = false;
  const killAll = async (): Promise<void> => {
    if (proc.running) killGroup(proc.pid);
    await plan.stop?.();
    await plan.cgroups?.killAll();
  };
  const releaseResources = () =>
    void (async () => {
      await plan.cgroups?.remove().catch((e: unknown) => warn(`cannot remove cgroups: ${String(e)}`));
      await plan.cleanup?.().catch((e: unknown) => warn(`cannot clean up run: ${String(e)}`));
    })();

  return {
    get alive() {
      return proc.running;
    },

    async discard(): Promise<void> {
      if (started) return;
      started = true;
      await killAll();
      // Drain (and drop) what a never-started sandbox wrote, so its streams can end and close.
      proc.stdout.resume();
      proc.stderr.resume();
      await closed.catch(() => undefined);
      releaseResources();
      await plan.artifacts?.release();
    },

    start(io: RunIo): SandboxHandle {
      if (started) throw new Error('a prepared run starts once');
      started = true;
      const startedAt = new Date();
      proc.stdout.on('data', (chunk: Buffer) => io.onOutput('stdout', chunk));
      proc.stderr.on('data', (chunk: Buffer) => io.onOutput('stderr', chunk));
      // A spawner's sockets wait paused (holding what bwrap wrote before the start) until now.
      proc.stdout.resume();
      proc.stderr.resume();
      feed(proc.stdin, io.stdin);
      proc.deferred.forEach((fd, i) => feed(fd, io.lateInputs[i] ?? ''));
      const timer = setTimeout(() => {
        timedOut = true;
        void killAll();
      }, io.timeoutMs);

      const exited = (async (): Promise<SandboxExit> => {
        const [code, signal] = await exit;
        const finishedAt = new Date();
        clearTimeout(timer);
        // Daemons the program left behind (setsid, double fork) would keep our pipes open: kill them first.
        await killAll();
        await closed.catch(() => undefined);
        const stats = plan.cgroups ? plan.cgroups.stats() : NO_STATS;
        // Every process is dead and measured: removing the (empty) cgroups and the run's files is bookkeeping
        // that need not delay the result, so it runs after `exited` resolves.
        releaseResources();
        const status = plan.wrappedExit ? translateWrappedExit(code, signal) : { exitCode: code, signal };
        return {
          ...status,
          timedOut,
          oomKilled: stats.oomKilled,
          killed,
          startedAt,
          finishedAt,
          cpuTimeMs: stats.cpuTimeMs,
          peakMemoryBytes: stats.peakMemoryBytes,
          memoryEnforcement: plan.memoryEnforcement,
        };
      })();

      return {
        startedAt,
        exited,
        ...(plan.artifacts ? { artifacts: plan.artifacts } : {}),
        async kill(): Promise<void> {
          killed = true;
          await killAll();
          await exited;
        },
      };
    },
  };
}

/** Spawns a plan and starts it at once (the cold path). */
export async function runPlan(
  plan: LaunchPlan,
  stdin: string | Buffer,
  onOutput: (stream: OutputStream, data: Buffer) => void,
  warn: (message: string) => void,
  launch: Launcher = spawnDirect,
): Promise<SandboxHandle> {
  const prepared = await prepareRun(plan, warn, launch);
  return prepared.start({ stdin, lateInputs: plan.lateInputs ?? [], onOutput, timeoutMs: plan.timeoutMs });
}
