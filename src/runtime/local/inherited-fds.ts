import { closeSync, readdirSync, readFileSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

/**
 * File descriptors of this process above stderr that a child would inherit: opened without close-on-exec.
 * Node, libuv and SQLite open everything close-on-exec, so these were inherited from whoever started the
 * server (a supervisor's pipe, a shell's redirection).
 */
export function inheritableFds(): number[] {
  const fds: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
    } catch {
      // Closed meanwhile (the directory fd readdirSync itself used, for one).
      continue;
    }
    const flags = Number.parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
    if ((flags & O_CLOEXEC) === 0) fds.push(fd);
  }
  return fds;
}

let closedOnce: number[] | null = null;

/**
 * Closes the inherited descriptors, once per process, so no sandbox can receive them: bwrap passes every open
 * fd on to the program. Runs at start-up, before any sandbox; what the server opens later is close-on-exec (so
 * is Node's IPC channel with a parent process). Never again after that: a later scan could catch a descriptor
 * another thread (a DNS lookup in libuv's pool) holds for a moment without close-on-exec, and closing it
 * under that thread corrupts whatever reuses the number (seen as a libuv assertion in a test worker).
 * Returns the fds it closed (none on later calls).
 */
export function closeInheritedFds(): number[] {
  if (closedOnce !== null) return [];
  closedOnce = inheritableFds();
  for (const fd of closedOnce) closeSync(fd);
  return closedOnce;
}
