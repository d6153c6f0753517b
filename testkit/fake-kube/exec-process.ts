import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SANDBOX_ENV } from '../../src/runtime/local/bwrap-args.js';

const run = promisify(execFile);
const PTY_HELPER = fileURLToPath(new URL('./exec-pty.py', import.meta.url));
/** The uid/gid a pod's processes run as (the sandbox maps only this one; pods ask runAsUser 65534). */
const SANDBOX_ID = '65534';

/** How the fake kubelet tells a container's processes from every other process: its /etc/hostname. */
export function hostnameMarker(podName: string): string {
  return `${podName}\n`;
}

function ancestorIs(pid: number, ancestor: number): boolean {
  for (let current = pid, hops = 0; current > 1 && hops < 64; hops += 1) {
    if (current === ancestor) return true;
    try {
      // Field 4 of /proc/N/stat is the parent pid; the command (field 2) may hold spaces, so cut after ")".
      const stat = readFileSync(`/proc/${current}/stat`, 'utf8');
      current = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * The host pid of a process inside the pod's sandbox: one of this process's descendants whose root shows the
 * pod's /etc/hostname. Null while none exists yet (bwrap builds the root before the program starts).
 */
export function findContainerProcess(podName: string): number | null {
  const marker = hostnameMarker(podName);
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/root/etc/hostname`, 'utf8') !== marker) continue;
    } catch {
      continue;
    }
    if (ancestorIs(pid, process.pid)) return pid;
  }
  return null;
}

/**
 * Waits for the pod's sandbox process. The local sandbox reports no pid and no event marks its root as
 * complete, so this looks every 5 ms, for at most `timeoutMs`.
 */
export async function awaitContainerProcess(podName: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = findContainerProcess(podName);
    if (pid !== null) return pid;
    if (Date.now() > deadline) throw new Error(`no sandbox process of pod ${podName} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Mounts an emptyDir volume into the container: a tmpfs capped at `sizeBytes` (an emptyDir's `sizeLimit`;
 * a real kubelet evicts a disk-backed one that grows past it, the fake's writes fail with ENOSPC instead),
 * owned by the sandbox user. Done from the host, as a kubelet sets volumes up before the container runs.
 */
export async function mountEmptyDir(pid: number, path: string, sizeBytes: number): Promise<void> {
  const options = `size=${sizeBytes},uid=${SANDBOX_ID},gid=${SANDBOX_ID},mode=0755`;
  await run('nsenter', ['-t', String(pid), '-m', '--', 'mount', '-t', 'tmpfs', '-o', options, 'tmpfs', path]);
}

/** The cgroup.procs files of the container's memory and pids cgroups, so exec'd processes share its limits. */
function cgroupProcsFiles(pid: number): string[] {
  const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const [, controllers = '', path = ''] = line.split(':');
      if (unified) return controllers === '' && path ? [`/sys/fs/cgroup${path}/cgroup.procs`] : [];
      return ['memory', 'pids']
        .filter((c) => controllers.split(',').includes(c))
        .map((c) => `/sys/fs/cgroup/${c}${path}/cgroup.procs`);
    });
}

// Joins the cgroups named first, then execs the rest: children are born inside, so none escapes the limits.
const JOIN_CGROUPS = 'n=$1; shift; for ((i = 0; i < n; i++)); do echo $$ > "$1"; shift; done; exec "$@"';

export interface ExecSpec {
  readonly argv: readonly string[];
  readonly tty: boolean;
  /** The container's `env` (over the sandbox's PATH, HOME, LANG) and `workingDir`. */
  readonly env: Readonly<Record<string, string>>;
  readonly workingDir: string;
  readonly size?: { readonly cols: number; readonly rows: number };
}

export interface ExecExit {
  /** Null when the process could not even be started (then `error` says why). */
  readonly exitCode: number | null;
  readonly error?: string;
}

/** One process started by `kubectl exec` in a running container. */
export interface ExecProcess {
  write(data: Buffer): void;
  endInput(): void;
  resize(cols: number, rows: number): void;
  /** The client went away: a terminal session is hung up; a plain one only loses its stdin, as with runc. */
  hangUp(): void;
  kill(): void;
  readonly exited: Promise<ExecExit>;
}

/**
 * Starts `spec.argv` inside the container whose sandbox process is `pid`: in all of its namespaces, as the
 * sandbox user, in its memory and pids cgroups, with a pseudo-terminal when `tty`.
 */
export function spawnInContainer(
  pid: number,
  spec: ExecSpec,
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): ExecProcess {
  const env = Object.entries({ ...SANDBOX_ENV, ...spec.env }).map(([k, v]) => `${k}=${v}`);
  const inContainer = [
    ...['nsenter', '-t', String(pid), '-U', '-m', '-p', '-n', '-i', '-u', '-S', SANDBOX_ID, '-G', SANDBOX_ID],
    ...['--', '/usr/bin/env', '-i', '-C', spec.workingDir, ...env, ...spec.argv],
  ];
  const procs = cgroupProcsFiles(pid);
  const joined = [
    '--norc',
    '--noprofile',
    '-c',
    JOIN_CGROUPS,
    'crucible-exec',
    String(procs.length),
    ...procs,
  ];
  const size = spec.size ?? { cols: 80, rows: 24 };
  const child: ChildProcess = spec.tty
    ? spawn(
        'python3',
        [PTY_HELPER, String(size.cols), String(size.rows), '--', 'bash', ...joined, ...inContainer],
        {
          stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
          detached: true,
        },
      )
    : spawn('bash', [...joined, ...inContainer], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdout?.on('data', (data: Buffer) => onOutput('stdout', data));
  child.stderr?.on('data', (data: Buffer) => onOutput('stderr', data));
  // The program may exit without reading its input; that is its right.
  child.stdin?.on('error', () => undefined);
  const resizes = child.stdio[3] as NodeJS.WritableStream | null | undefined;
  resizes?.on('error', () => undefined);
  const signal = (name: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(spec.tty ? child.pid : -child.pid, name);
      } catch {
        // Already gone.
      }
    }
  };
  const exited = new Promise<ExecExit>((resolve) => {
    child.on('error', (error) => resolve({ exitCode: null, error: error.message }));
    child.on('close', (code, sig) => resolve({ exitCode: code ?? 128 + signalNumber(sig) }));
  });
  return {
    write: (data) => void child.stdin?.write(data),
    endInput: () => void child.stdin?.end(),
    resize: (cols, rows) => void resizes?.write(`${cols} ${rows}\n`),
    hangUp: () => (spec.tty ? signal('SIGHUP') : void child.stdin?.end()),
    kill: () => signal(spec.tty ? 'SIGTERM' : 'SIGKILL'),
    exited,
  };
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal ?? ''] ?? 9;
}
