import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { processAlive } from './spawned.js';

const run = promisify(execFile);
const NOBODY = 65534;
/** Not under the server's data directory: it is private (0700), and the sandbox user must reach its runs. */
const ROOT = join(tmpdir(), 'crucible-builds');

/** Where a compile stage writes its build, shown to the run stages of the same evaluation only. */
export interface BuildDir {
  readonly hostPath: string;
  remove(): Promise<void>;
}

let counter = 0;
let mountWorks: boolean | null = null;

/**
 * A per-evaluation build directory: a tmpfs of `sizeMb` owned by the sandbox user (mode 0700), so a compiler
 * cannot fill the host's disk and the binaries live in memory only, for as long as the evaluation runs. It is
 * never read by the server: compiled artefacts never leave the sandboxes. Without the right to mount (not
 * root), a plain 0700 directory is used and `warn` says so once.
 */
export async function createBuildDir(sizeMb: number, warn: (message: string) => void): Promise<BuildDir> {
  await mkdir(ROOT, { recursive: true, mode: 0o711 });
  const hostPath = join(ROOT, `${process.pid}-${++counter}`);
  await mkdir(hostPath, { mode: 0o700 });
  let mounted = false;
  if (mountWorks !== false) {
    try {
      const options = `size=${sizeMb}m,mode=0700,uid=${NOBODY},gid=${NOBODY},nosuid,nodev`;
      await run('/usr/bin/mount', ['-t', 'tmpfs', '-o', options, 'crucible-build', hostPath]);
      mounted = true;
      mountWorks = true;
    } catch (error) {
      mountWorks = false;
      warn(
        `cannot mount a tmpfs for builds (${String(error)}); builds go to a plain directory, size unbounded`,
      );
    }
  }
  if (!mounted) {
    await chown(hostPath, NOBODY, NOBODY);
    await chmod(hostPath, 0o700);
  }
  return {
    hostPath,
    async remove() {
      if (mounted) await run('/usr/bin/umount', ['--lazy', hostPath]);
      else await run('/usr/bin/rm', ['-rf', '--one-file-system', hostPath]);
      await rmdir(hostPath).catch(() => undefined);
    },
  };
}

/** Mount points at or below `root` (the fifth field of mountinfo, octal escapes undone). */
function mountPointsUnder(root: string): Set<string> {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(parseInt(o, 8)),
      ),
    )
    .filter((point) => point.startsWith(`${root}/`));
  return new Set(points);
}

/**
 * Build directories a crashed server left behind (named `<pid>-<n>`, the pid no longer running): each tmpfs
 * is unmounted and the directory removed, so they neither hold memory nor pile up. Directories of running
 * servers — other processes on this host, or this one — are left alone. Returns how many went.
 */
export async function removeStaleBuildDirs(
  root: string = ROOT,
  alive: (pid: number) => boolean = processAlive,
): Promise<number> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return 0; // no builds yet on this host
  }
  const mounts = mountPointsUnder(root);
  let removed = 0;
  for (const name of names) {
    const pid = Number(/^(\d+)-\d+$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
    const path = join(root, name);
    if (mounts.has(path)) await run('/usr/bin/umount', ['--lazy', path]);
    await run('/usr/bin/rm', ['-rf', '--one-file-system', path]);
    removed++;
  }
  return removed;
}
