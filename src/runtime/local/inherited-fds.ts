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

/**
 * Closes the inherited descriptors once, so no sandbox can receive them: bwrap passes every open fd on to
 * the program. Runs at start-up, before any sandbox; what the server opens later is close-on-exec (so is
 * Node's IPC channel with a parent process). Returns the fds it closed.
 */
export function closeInheritedFds(): number[] {
  const fds = inheritableFds();
  for (const fd of fds) closeSync(fd);
  return fds;
}
