import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { joinAtGate, sandboxPidFrom } from './gate.js';
import type { LaunchPlan } from './process-run.js';

/** A launched plan, however it was spawned: by this process (`spawnDirect`) or by the spawner helper. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** The writable end of each deferred input (the `null`s of the plan's `extraInputs`), in order. */
  readonly deferred: readonly Writable[];
  /** True until the process has exited. */
  readonly running: boolean;
  /** Exit code and signal. */
  readonly exit: Promise<[number | null, NodeJS.Signals | null]>;
  /** Resolves once it has exited and its output streams are closed. */
  readonly closed: Promise<void>;
}

/**
 * Spawns a plan, feeds its fixed inputs and, for a gated plan, moves it into its cgroups (the deferred inputs
 * are left to the caller). Resolves once the run may be started; throws after killing what it spawned.
 */
export type Launcher = (plan: LaunchPlan) => Promise<SpawnedProcess>;

/**
 * The wrapper for plans without a gate (gVisor, `none`). It (1) closes every inherited fd above the ones we
 * pass on purpose: libuv only closes its own fds, and a stray fd the server inherited (a pipe from its
 * parent) would otherwise reach the untrusted program; (2) joins the run's cgroups, then execs, so the
 * program starts already confined with no window to fork outside them. bash rather than dash because dash
 * cannot name fds above 9. Values are positional parameters, never part of the script.
 */
const WRAPPER = [
  'keep=$1; n=$2; shift 2',
  'for f in /proc/$$/fd/*; do fd=${f##*/}; if [ "$fd" -gt "$keep" ]; then exec {fd}>&-; fi; done',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done',
  'exec "$@"',
].join('\n');

/** Spawns the plan as a child of this process (Node's `spawn`, a full fork of the server). */
export const spawnDirect: Launcher = async (plan) => {
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
  const closed = once(child, 'close').then(() => undefined);
  closed.catch(() => undefined);
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  exit.catch(() => undefined);
  await once(child, 'spawn');
  const deferred: Writable[] = [];
  plan.extraInputs.forEach((content, i) => {
    const fd = child.stdio[3 + i] as Writable;
    if (content === null) deferred.push(fd);
    else feed(fd, content);
  });
  if (plan.gate) {
    try {
      await enterCgroupsAtGate(plan, child);
    } catch (error) {
      killGroup(child.pid ?? 0);
      await closed.catch(() => undefined);
      throw error;
    }
  }
  return {
    pid: child.pid ?? 0,
    stdin: child.stdin as Writable,
    stdout: child.stdout as Readable,
    stderr: child.stderr as Readable,
    deferred,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    exit,
    closed,
  };
};

/** True while `pid` names a process (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs a run's process group (before it joined its cgroups, its only handle). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Writes an input and closes it; the program may close its end first, which is its right. */
export function feed(stream: Writable, content: string | Buffer): void {
  // EPIPE/ECONNRESET: the program may exit or close stdin without reading it all; that is its right, and the
  // exit status tells the rest. Nothing else can fail on a pipe to our own child.
  stream.on('error', () => undefined);
  stream.end(content);
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
