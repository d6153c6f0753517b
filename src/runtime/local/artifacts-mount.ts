import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTarEntries, type CollectedFile } from '../artifacts.js';
import { SETPRIV_NOBODY } from './rlimits.js';

/** How a run's tmpfs is mounted and detached. */
export interface MountOps {
  mount(target: string, options: string): Promise<void>;
  unmount(target: string): Promise<void>;
}

const execFileAsync = promisify(execFile);

/** mount(8) and umount(8), forking the server: only when the spawner helper is not there. */
export const hostMountOps: MountOps = {
  mount: async (target, options) => {
    await execFileAsync('/usr/bin/mount', [
      '-t',
      'tmpfs',
      '-o',
      `${options},nosuid,nodev,noexec`,
      'crucible-artifacts',
      target,
    ]);
  },
  unmount: async (target) => {
    await execFileAsync('/usr/bin/umount', ['--lazy', target]);
  },
};
const NOBODY = 65534;
/** A collector that takes longer than this is killed; what it streamed by then is kept. */
const COLLECT_TIMEOUT_MS = 60_000;

/**
 * One run's `/artifacts`: a tmpfs on the host owned by the sandbox user (mode 0700, nosuid, nodev, noexec),
 * bound into the sandbox. Its size is the server's largest cap; each evaluation's own cap is applied when the
 * files are stored, so a file over it is dropped and reported rather than failing the program's write.
 * The server never opens a path inside it: `collect` runs `tar` in a second sandbox (uid 65534, every
 * namespace, the tmpfs read-only at `/artifacts`, nothing else but /usr), which streams the regular files out
 * over a pipe, symlinks as links (never their targets).
 */
export interface ArtifactsMount {
  readonly hostPath: string;
  /** Streams what the program left, one entry at a time, to `onFile`; returns once all were handled. */
  collect(onFile: (file: CollectedFile) => Promise<void>): Promise<void>;
  /** Unmounts and removes it. Idempotent. */
  release(): Promise<void>;
}

export interface ArtifactsMounts {
  create(): Promise<ArtifactsMount | null>;
  /** Releases every mount still held (server stop). */
  close(): Promise<void>;
}

/**
 * Makes one `/artifacts` per sandbox under a private directory of this server (`/tmp/crucible-artifacts-*`,
 * mode 0711: the sandbox user can reach its own mount, nobody can list them). Without the right to mount a
 * tmpfs (not root) it answers null: runs then have no `/artifacts`, and `warn` says so once.
 */
export function createArtifactsMounts(
  sizeMb: number,
  warn: (message: string) => void,
  // Two per run (mount, unmount): by the spawner helper's syscalls, so nothing is forked for them.
  mounts: MountOps = hostMountOps,
): ArtifactsMounts {
  let root: Promise<string> | undefined;
  let counter = 0;
  let disabled = false;
  const held = new Set<ArtifactsMount>();
  return {
    async create() {
      if (disabled) return null;
      root ??= mkdtemp(join(tmpdir(), 'crucible-artifacts-')).then(async (dir) => {
        await chmod(dir, 0o711);
        return dir;
      });
      const hostPath = join(await root, String(++counter));
      await mkdir(hostPath, { mode: 0o700 });
      const options = `size=${sizeMb}m,mode=0700,uid=${NOBODY},gid=${NOBODY}`;
      try {
        await mounts.mount(hostPath, options);
      } catch (error) {
        disabled = true;
        await rmdir(hostPath).catch(() => undefined);
        warn(`cannot mount a tmpfs for /artifacts (${String(error)}); evaluations run without /artifacts`);
        return null;
      }
      const mount = mountAt(hostPath, mounts, () => held.delete(mount));
      held.add(mount);
      return mount;
    },
    async close() {
      await Promise.all([...held].map((mount) => mount.release()));
      if (root) await rm(await root, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

function mountAt(hostPath: string, mounts: MountOps, forget: () => void): ArtifactsMount {
  let released: Promise<void> | undefined;
  return {
    hostPath,
    async collect(onFile) {
      // Listing the mount's root (ours) is no path of the program's: an empty one needs no collector.
      if ((await readdir(hostPath)).length === 0) return;
      const collector = spawn(
        SETPRIV_NOBODY[0],
        [...SETPRIV_NOBODY.slice(1), '/usr/bin/bwrap', ...collectorArgs(hostPath)],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {},
        },
      );
      const timer = setTimeout(() => collector.kill('SIGKILL'), COLLECT_TIMEOUT_MS);
      let stderr = '';
      collector.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 4096) stderr += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => collector.on('close', (code) => resolve(code)));
      try {
        for await (const file of readTarEntries(collector.stdout)) await onFile(file);
      } finally {
        clearTimeout(timer);
        collector.kill('SIGKILL');
        collector.stdout.destroy();
      }
      const code = await exited;
      // tar exits 1 when a file changed while read (nothing can write here any more) — not a failure.
      if (code !== 0 && code !== 1 && code !== null) {
        throw new Error(`the artifacts collector failed (exit ${code}): ${stderr.trim()}`);
      }
    },
    release() {
      released ??= (async () => {
        forget();
        await mounts.unmount(hostPath).catch(() => undefined);
        await rmdir(hostPath).catch(() => undefined);
      })();
      return released;
    },
  };
}

/** The collector's sandbox: bwrap with every namespace, /usr and the artifacts read-only, then `tar`. */
export function collectorArgs(hostPath: string): string[] {
  // prettier-ignore
  return [
    '--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session',
    '--cap-drop', 'ALL',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache',
    '--proc', '/proc',
    '--dev', '/dev',
    '--ro-bind', hostPath, '/artifacts',
    '--remount-ro', '/',
    '--clearenv', '--setenv', 'LANG', 'C.UTF-8',
    '--chdir', '/artifacts',
    '--', '/usr/bin/tar', '--create', '--file=-', '--format=gnu', '--sort=name', '--numeric-owner',
    '--ignore-failed-read', '.',
  ];
}

/**
 * Streams a finished run's `/artifacts` to its observer, then releases the mount in the background. A collector that fails
 * loses the files not yet delivered (a warning says so); the evaluation still ends with its own status.
 */
export async function collectArtifacts(
  mount: ArtifactsMount | undefined,
  observer: { artifact?(file: CollectedFile): Promise<void> },
): Promise<void> {
  if (!mount) return;
  try {
    if (observer.artifact) await mount.collect((file) => observer.artifact!(file));
  } catch (error) {
    process.emitWarning(
      `collecting /artifacts failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    // Not awaited: the unmount need not delay the result (the server's close awaits every mount).
    void mount.release();
  }
}
