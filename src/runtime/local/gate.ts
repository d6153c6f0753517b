import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Readable } from 'node:stream';
import type { RunCgroups } from './cgroups.js';

/**
 * Niceness of every sandboxed process (inherited by all the program forks; without CAP_SYS_NICE it cannot
 * lower it): when the machine is saturated, the control plane — this server, its store, the replicas'
 * event feeds — gets the CPU first, so status, streams and the API stay prompt, and the sandboxes share the
 * rest as before. On an idle machine it changes nothing.
 */
export const SANDBOX_NICE = 10;

/** bwrap writes its info right after creating the sandbox; far less than this even on a loaded host. */
const INFO_TIMEOUT_MS = 10_000;

/**
 * Waits for bwrap's `--info-fd` report and returns the pid of its sandbox process (the PID-namespace init
 * that later forks the program), or null when bwrap ended without creating one.
 */
export function sandboxPidFrom(info: Readable): Promise<number | null> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (pid: number | null, error?: Error) => {
      clearTimeout(timer);
      info.removeAllListeners('data');
      info.removeAllListeners('end');
      info.resume();
      if (error) reject(error);
      else resolve(pid);
    };
    const timer = setTimeout(
      () => done(null, new Error(`bwrap reported no sandbox within ${INFO_TIMEOUT_MS} ms`)),
      INFO_TIMEOUT_MS,
    );
    info.on('error', () => undefined);
    info.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const pid = childPidOf(text);
      if (pid !== null) done(pid);
    });
    info.on('end', () => done(childPidOf(text)));
  });
}

function childPidOf(text: string): number | null {
  try {
    const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    // Not complete yet.
    return null;
  }
}

/**
 * Moves a bwrap that waits at its gate (reading a data fd we have not fed yet) into the run's cgroups:
 * bwrap itself and its sandbox process, the only two processes of the run so far. The sandbox process forks
 * the program only after the gate, so every process the program can ever create is born inside the
 * cgroups. Throws, leaving the caller to kill the run, if the sandbox process already has a child: then
 * something ran that this design does not expect, and it must not start.
 */
export function joinAtGate(cgroups: RunCgroups, bwrapPid: number, sandboxPid: number): void {
  cgroups.join([bwrapPid, sandboxPid]);
  for (const pid of [bwrapPid, sandboxPid]) {
    try {
      setPriority(pid, SANDBOX_NICE);
    } catch (error) {
      // Gone already (bwrap failed): the exit status tells why.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  let children: string;
  try {
    children = readFileSync(`/proc/${sandboxPid}/task/${sandboxPid}/children`, 'utf8').trim();
  } catch (error) {
    // Gone already (bwrap failed): there is nothing left to confine, and the exit status tells why.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (children !== '') {
    throw new Error(`the sandbox process ${sandboxPid} forked (${children}) before its gate was opened`);
  }
}
