import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { MemoryEnforcement, OutputStream } from '../../core/index.js';
import type { CgroupStats, RunCgroups } from './cgroups.js';
import { joinAtGate, sandboxPidFrom } from './gate.js';
import type { SandboxExit, SandboxHandle } from './sandbox-types.js';
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
}

/**
 * The wrapper between us and the sandbox. It (1) closes every inherited fd above the ones we pass on purpose:
 * libuv only closes its own fds, and a stray fd the server inherited (a pipe from its parent) would otherwise
 * reach the untrusted program; (2) joins the run's cgroups, then execs, so the program starts already confined
 * with no window to fork outside them. bash rather than dash because dash cannot name fds above 9. Values are
 * positional parameters, never part of the script.
 */
const WRAPPER = [
  'keep=$1; n=$2; shift 2',
  'for f in /proc/$$/fd/*; do fd=${f##*/}; if [ "$fd" -gt "$keep" ]; then exec {fd}>&-; fi; done',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done',
  'exec "$@"',
].join('\n');

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
export async function prepareRun(plan: LaunchPlan, warn: (message: string) => void): Promise<PreparedRun> {
  const [command, ...args] = plan.gate ? plan.argv : wrapped(plan);
  if (command === undefined) throw new Error('argv must not be empty');
  const child = spawn(command, args, {
    env: plan.env,
    cwd: plan.cwd ?? '/',
    // Own process group, so the fallback without cgroups can still signal the whole tree.
    detached: true,
    stdio: [
      'pipe',
      'pipe',
      'pipe',
      ...plan.extraInputs.map(() => 'pipe' as const),
      ...(plan.gate ? ['pipe' as const] : []),
    ],
  });
  const closed = once(child, 'close');
  closed.catch(() => undefined);
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  exit.catch(() => undefined);
  try {
    await once(child, 'spawn');
  } catch (error) {
    await plan.cgroups?.remove();
    await plan.cleanup?.();
    throw error;
  }
  const lateFds: Writable[] = [];
  plan.extraInputs.forEach((content, i) => {
    const fd = child.stdio[3 + i] as Writable;
    if (content === null) lateFds.push(fd);
    else feed(fd, content);
  });

  let timedOut = false;
  let killed = false;
  let started = false;
  const killAll = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        // Before the wrapper joined its cgroups, the process group is the only handle on it.
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // ESRCH: the group is already gone.
      }
    }
    await plan.stop?.();
    await plan.cgroups?.killAll();
  };
  const releaseResources = () =>
    void (async () => {
      await plan.cgroups?.remove().catch((e: unknown) => warn(`cannot remove cgroups: ${String(e)}`));
      await plan.cleanup?.().catch((e: unknown) => warn(`cannot clean up run: ${String(e)}`));
    })();

  if (plan.gate) {
    try {
      await enterCgroupsAtGate(plan, child);
    } catch (error) {
      await killAll();
      await closed.catch(() => undefined);
      releaseResources();
      throw error;
    }
  }

  return {
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },

    async discard(): Promise<void> {
      if (started) return;
      started = true;
      await killAll();
      await closed.catch(() => undefined);
      releaseResources();
    },

    start(io: RunIo): SandboxHandle {
      if (started) throw new Error('a prepared run starts once');
      started = true;
      const startedAt = new Date();
      child.stdout.on('data', (chunk: Buffer) => io.onOutput('stdout', chunk));
      child.stderr.on('data', (chunk: Buffer) => io.onOutput('stderr', chunk));
      feed(child.stdin, io.stdin);
      lateFds.forEach((fd, i) => feed(fd, io.lateInputs[i] ?? ''));
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
): Promise<SandboxHandle> {
  const prepared = await prepareRun(plan, warn);
  return prepared.start({ stdin, lateInputs: plan.lateInputs ?? [], onOutput, timeoutMs: plan.timeoutMs });
}

/** The wrapper's argv: it closes stray fds, joins the cgroups, then execs the plan's argv. */
function wrapped(plan: LaunchPlan): string[] {
  const procsFiles = plan.cgroups?.procsFiles ?? [];
  const lastFd = 2 + plan.extraInputs.length;
  const args = ['-c', WRAPPER, 'crucible-wrap', String(lastFd), String(procsFiles.length), ...procsFiles];
  // --norc: bash sources ~/.bashrc when its stdin is a socket (the rshd heuristic), and ours is a socketpair.
  return ['/usr/bin/bash', '--norc', '--noprofile', ...args, ...plan.argv];
}

/** Waits until bwrap created its sandbox, then moves both its processes into the run's cgroups. */
async function enterCgroupsAtGate(plan: LaunchPlan, child: ChildProcess): Promise<void> {
  const info = plan.gate ? (child.stdio[plan.gate.infoFd] as Readable | null) : null;
  if (!info) throw new Error('the plan has no info fd');
  const sandboxPid = await sandboxPidFrom(info);
  // No sandbox process: bwrap failed before creating one, so nothing can run; its exit status tells why.
  if (sandboxPid === null || !plan.cgroups || child.pid === undefined) return;
  joinAtGate(plan.cgroups, child.pid, sandboxPid);
}

function feed(stream: Writable, content: string | Buffer): void {
  // EPIPE/ECONNRESET: the program may exit or close stdin without reading it all; that is its right, and the
  // exit status tells the rest. Nothing else can fail on a pipe to our own child.
  stream.on('error', () => undefined);
  stream.end(content);
}
