import type { ResolvedProgram } from './interpreters.js';
import type { SandboxBind } from './sandbox-types.js';

export interface BwrapArgsInput {
  readonly program: ResolvedProgram;
  /** argv after argv[0]. */
  readonly args: readonly string[];
  /** Files delivered through inherited fds with --ro-bind-data: nothing is written on the host. */
  readonly dataFiles: readonly {
    readonly fd: number;
    readonly path: string;
    readonly executable?: boolean;
  }[];
  readonly tmpSizeBytes: number;
  /** Inherited fd carrying a compiled seccomp filter (see seccomp.ts), applied just before exec. */
  readonly seccompFd?: number;
  /** Inherited fd on which bwrap reports its sandbox process's pid (`--info-fd`) right after creating it. */
  readonly infoFd?: number;
  /** The run's `/artifacts` tmpfs on the host (artifacts-mount.ts), bound writable; absent: none. */
  readonly artifactsDir?: string;
  /** Host directories bound into the sandbox (compile stages); absent: none. */
  readonly binds?: readonly SandboxBind[];
  /** Host directories shown read-only at the same path (a toolchain's files outside /usr). */
  readonly hostDirs?: readonly string[];
  /** Environment on top of SANDBOX_ENV. */
  readonly env?: Readonly<Record<string, string>>;
}

export const SANDBOX_ENV: Readonly<Record<string, string>> = {
  PATH: '/opt/crucible/bin:/usr/bin:/bin',
  HOME: '/tmp',
  LANG: 'C.UTF-8',
};

/** Synthetic /etc entries so tools that look up their own user work; the host's /etc is never shown. */
export const SANDBOX_ETC_FILES: readonly { readonly path: string; readonly content: string }[] = [
  { path: '/etc/passwd', content: 'nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n' },
  { path: '/etc/group', content: 'nogroup:x:65534:\n' },
  { path: '/etc/hosts', content: '127.0.0.1 localhost\n::1 localhost\n' },
];

/**
 * The bwrap command line, a pure function so it can be reviewed and unit-tested. bwrap runs unprivileged
 * (setpriv already dropped to 65534), so it builds a user namespace mapping only 65534, and nested user
 * namespaces are disabled. Only /usr (plus the merged-usr symlinks) is shown, read-only; /tmp and /dev/shm are
 * tmpfs capped with --size; /usr/local/bin is replaced so host tools there stay hidden.
 *
 * @example
 * buildBwrapArgs({ program: resolveProgram('python3'), args: ['-u', '/code/main.py'],
 *   dataFiles: [{ fd: 3, path: '/code/main.py' }], tmpSizeBytes: 64 << 20 });
 */
export function buildBwrapArgs(input: BwrapArgsInput): string[] {
  const tmpSize = String(input.tmpSizeBytes);
  // prettier-ignore
  const args = [
    '--unshare-all',
    // --unshare-all only *tries* a user namespace; we require it so --disable-userns can be applied.
    '--unshare-user',
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    '--cap-drop', 'ALL',
    '--hostname', 'sandbox',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--symlink', 'usr/sbin', '/sbin',
    '--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache',
    '--tmpfs', '/usr/local/bin',
    '--remount-ro', '/usr/local/bin',
    '--proc', '/proc',
    '--dev', '/dev',
    '--perms', '1777', '--size', tmpSize, '--tmpfs', '/tmp',
    // POSIX shared memory (Python multiprocessing) needs a writable /dev/shm; it gets the same cap as /tmp.
    '--perms', '1777', '--size', tmpSize, '--tmpfs', '/dev/shm',
    '--remount-ro', '/dev',
  ];
  // The bind target lies outside the shared /usr: bwrap creates a missing target, and under a host bind
  // mount it would create it on the host.
  if (input.program.extraBind) {
    args.push('--ro-bind', input.program.extraBind.source, input.program.extraBind.dest);
  }
  for (const dir of input.hostDirs ?? []) args.push('--ro-bind', dir, dir);
  for (const bind of input.binds ?? []) {
    args.push(bind.writable ? '--bind' : '--ro-bind', bind.hostPath, bind.path);
  }
  if (input.artifactsDir) args.push('--bind', input.artifactsDir, '/artifacts');
  // Data files come last but one: bwrap reads each fd to its end while building the root, so a pre-spawned
  // sandbox whose last file (the code) arrives later waits here with everything else already set up.
  for (const file of input.dataFiles) {
    args.push('--perms', file.executable ? '0555' : '0444', '--ro-bind-data', String(file.fd), file.path);
  }
  if (input.seccompFd !== undefined) args.push('--seccomp', String(input.seccompFd));
  if (input.infoFd !== undefined) args.push('--info-fd', String(input.infoFd));
  // Unprivileged bwrap's root tmpfs belongs to the sandbox user: left writable it would be an uncapped /tmp.
  args.push('--remount-ro', '/');
  args.push('--clearenv');
  for (const [name, value] of Object.entries({ ...SANDBOX_ENV, ...input.env })) {
    args.push('--setenv', name, value);
  }
  args.push('--chdir', '/tmp', '--', input.program.sandboxPath, ...input.args);
  return args;
}
