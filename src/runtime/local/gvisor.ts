import type { ArtifactsMount } from './artifacts-mount.js';
import { execFile } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SANDBOX_ENV, SANDBOX_ETC_FILES } from './bwrap-args.js';
import { RunCgroups } from './cgroups.js';
import { resolveProgram } from './interpreters.js';
import type { LaunchPlan } from './process-run.js';
import type { SandboxFile, SandboxSpec } from './sandbox-types.js';

const run = promisify(execFile);
export const RUNSC = '/usr/bin/runsc';
/** The run's cgroup holds gVisor's own sentry and gofer, so the program gets the limit plus this much. */
export const SENTRY_OVERHEAD_MB = 64;
/** Host tasks of the sentry and gofer (Go threads); the program's processes live inside the sentry. */
export const SENTRY_TASKS = 256;
/**
 * Host tasks the sentry needs per process of the program (the ptrace platform keeps a stub process and
 * threads for each; about 7 measured). The program's own process limit is RLIMIT_NPROC inside the sentry;
 * the host pids limit only has to stay above what that allows, or the sentry itself dies (exit 2) instead
 * of the program seeing EAGAIN.
 */
export const HOST_TASKS_PER_PROCESS = 10;
/**
 * `runsc run` is our child: with PDEATHSIG it dies when the server dies (kill -9 included), and the sandbox,
 * started `--attached`, dies with it. Without it a crashed server's sandboxes ran on, unbounded by any
 * timeout, until the next server start removed them.
 */
const DIE_WITH_PARENT = ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'];

export interface GvisorBackend {
  plan(spec: SandboxSpec, artifacts?: ArtifactsMount | null): Promise<LaunchPlan>;
}

/**
 * gVisor through `runsc run` with a generated OCI bundle rather than `runsc do`: `do` shows the host's whole
 * filesystem and runs as root, while a bundle gives a read-only minimal root (only /usr bound), a sized
 * tmpfs /tmp, uid 65534 without capabilities, rlimits, and `--network=none`. runsc's own cgroup handling is
 * off (`--ignore-cgroups`); instead the wrapper puts the whole sandbox (sentry, gofer, program) in our run
 * cgroups, so the memory limit really holds (sentry included) and killing the cgroup kills everything.
 * The code is written to a per-run bundle directory under the state dir and bound read-only.
 */
export async function gvisorBackend(dir: string, warn: (message: string) => void): Promise<GvisorBackend> {
  const { state, rootfs, bundles } = await prepareGvisorDir(dir, '', warn);
  let runNumber = 0;

  return {
    async plan(spec: SandboxSpec, artifacts?: ArtifactsMount | null): Promise<LaunchPlan> {
      const [name, ...rest] = spec.argv;
      if (name === undefined) throw new Error('argv must not be empty');
      const id = `crucible-${process.pid}-${++runNumber}`;
      const bundle = join(bundles, id);
      const mounts: OciMount[] = [];
      const files: readonly SandboxFile[] = [...SANDBOX_ETC_FILES, ...spec.files];
      for (const [i, file] of files.entries()) {
        const hostPath = join(bundle, 'files', String(i));
        await mkdir(dirname(hostPath), { recursive: true });
        await writeFile(hostPath, file.content, { mode: file.executable ? 0o555 : 0o444 });
        mounts.push({ destination: file.path, type: 'bind', source: hostPath, options: ['bind', 'ro'] });
      }
      for (const dir of spec.hostDirs ?? []) {
        mounts.push({ destination: dir, type: 'bind', source: dir, options: ['bind', 'ro'] });
      }
      for (const bind of spec.binds ?? []) {
        const options = ['bind', bind.writable ? 'rw' : 'ro'];
        mounts.push({ destination: bind.path, type: 'bind', source: bind.hostPath, options });
      }
      if (artifacts) {
        mounts.push({
          destination: '/artifacts',
          type: 'bind',
          source: artifacts.hostPath,
          options: ['bind', 'rw'],
        });
      }
      const program = resolveProgram(name);
      if (program.extraBind) {
        mounts.push({
          destination: program.extraBind.dest,
          type: 'bind',
          source: program.extraBind.source,
          options: ['bind', 'ro'],
        });
      }
      const config = ociConfig(spec, rootfs, [program.sandboxPath, ...rest], mounts);
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
      const cgroups = await RunCgroups.create({
        memoryBytes: (spec.limits.memoryMb + SENTRY_OVERHEAD_MB) * 1024 * 1024,
        maxTasks: spec.limits.maxProcesses * HOST_TASKS_PER_PROCESS + SENTRY_TASKS,
      });
      return {
        ...runscContainer(state, id, bundle, ['run']),
        env: { PATH: SANDBOX_ENV.PATH ?? '/usr/bin:/bin' },
        extraInputs: [],
        cgroups,
        memoryEnforcement: 'cgroup',
        timeoutMs: spec.limits.timeoutSeconds * 1000,
        wrappedExit: true,
        ...(artifacts ? { artifacts } : {}),
      };
    },
  };
}

/**
 * The state of one kind of gVisor container below `dir`: the shared read-only rootfs, and per kind
 * (`prefix`: '' for evaluations, 'sandbox-' for interactive sandboxes) its own runsc root and bundles, so
 * one kind's start-up clean-up of a dead server's containers never touches the other's.
 */
export async function prepareGvisorDir(
  dir: string,
  prefix: string,
  warn: (message: string) => void,
): Promise<{ rootfs: string; state: string; bundles: string }> {
  const rootfs = join(dir, 'rootfs');
  const state = join(dir, `${prefix}state`);
  const bundles = join(dir, `${prefix}bundles`);
  await prepareRootfs(rootfs);
  await mkdir(state, { recursive: true });
  await removeStaleContainers(state, bundles, warn);
  return { rootfs, state, bundles };
}

/**
 * How one container runs (`command`: `run`, or `restore --image-path DIR`), stops and is removed with its
 * bundle: `runsc` under PDEATHSIG, no network, our cgroups instead of its own.
 */
export function runscContainer(state: string, id: string, bundle: string, command: readonly string[]) {
  return {
    argv: [
      ...DIE_WITH_PARENT,
      ...[RUNSC, '--root', state, '--network=none', '--ignore-cgroups'],
      ...[...command, '--bundle', bundle, id],
    ],
    stop: async () => {
      await run(RUNSC, ['--root', state, 'kill', id, 'KILL']).catch(() => undefined);
    },
    cleanup: async () => {
      await run(RUNSC, ['--root', state, 'delete', '--force', id]).catch(() => undefined);
      await rm(bundle, { recursive: true, force: true });
    },
  };
}

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

/** The OCI runtime config of one run; a pure function of the spec. */
export function ociConfig(
  spec: Pick<SandboxSpec, 'env'> & {
    readonly limits: Pick<SandboxSpec['limits'], 'maxProcesses' | 'tmpSizeMb'>;
  },
  rootfs: string,
  args: readonly string[],
  files: OciMount[],
): object {
  const nproc = spec.limits.maxProcesses;
  return {
    ociVersion: '1.0.0',
    process: {
      terminal: false,
      user: { uid: 65534, gid: 65534 },
      args,
      env: Object.entries({ ...SANDBOX_ENV, ...spec.env }).map(([k, v]) => `${k}=${v}`),
      cwd: '/tmp',
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [
        { type: 'RLIMIT_NPROC', hard: nproc, soft: nproc },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
      ],
    },
    root: { path: rootfs, readonly: true },
    hostname: 'sandbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] },
      { destination: '/usr/local/bin', type: 'tmpfs', source: 'tmpfs', options: ['mode=755', 'size=1m'] },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', `size=${spec.limits.tmpSizeMb}m`],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', `size=${spec.limits.tmpSizeMb}m`],
      },
      ...files,
    ],
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })),
    },
  };
}

async function prepareRootfs(rootfs: string): Promise<void> {
  for (const d of ['usr', 'proc', 'dev', 'tmp', 'code', 'etc'])
    await mkdir(join(rootfs, d), { recursive: true });
  for (const [link, target] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
    ['sbin', 'usr/sbin'],
  ]) {
    await symlink(target!, join(rootfs, link!)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/** Deletes containers (and bundles) of servers that are no longer running. */
async function removeStaleContainers(
  state: string,
  bundles: string,
  warn: (message: string) => void,
): Promise<void> {
  const { stdout } = await run(RUNSC, ['--root', state, 'list', '-quiet']);
  for (const id of stdout.split('\n').filter((line) => line.startsWith('crucible-'))) {
    const owner = Number(id.split('-')[1]);
    if (owner === process.pid || isAlive(owner)) continue;
    await run(RUNSC, ['--root', state, 'delete', '--force', id]).catch((e: unknown) =>
      warn(`cannot delete stale gVisor container ${id}: ${String(e)}`),
    );
    await rm(join(bundles, id), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
