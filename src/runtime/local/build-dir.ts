import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

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
