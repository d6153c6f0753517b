import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ContainerLog } from './container-log.js';
import type { ExecOptions, ExecTarget, StartExec } from './exec.js';
import { awaitContainerProcess, mountEmptyDir, spawnInContainer } from './exec-process.js';
import type { Sandbox, SandboxHandle } from './sandbox.js';
import { StoreError, type KObject, type ObjectStore } from './store.js';
import {
  containerMounts,
  quantityBytes,
  type Container,
  type PodVolumes,
  type Volume,
} from './pod-volumes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The static runner that `npm install` (scripts/setup.mjs) builds from runner/, as the runner image holds it. */
export const RUNNER_BINARY = `${ROOT}runner/target/crucible-runner`;
const RUNNER_FILE = 'crucible-runner';

function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * The path of the built runner binary, (re)built first when it is missing or older than its sources, so the
 * tests always run the runner the repository holds.
 */
export function runnerBinary(): string {
  const sources = [
    `${ROOT}runner/Cargo.toml`,
    ...readdirSync(`${ROOT}runner/src`).map((name) => `${ROOT}runner/src/${name}`),
  ];
  const built = mtimeMs(RUNNER_BINARY);
  if (built < 0 || sources.some((source) => mtimeMs(source) > built)) {
    execFileSync(process.execPath, [`${ROOT}scripts/setup.mjs`, '--runner'], { stdio: 'inherit' });
  }
  return RUNNER_BINARY;
}

let runnerBytes: Buffer | null = null;
function runnerContent(): Buffer {
  runnerBytes ??= readFileSync(runnerBinary());
  return runnerBytes;
}

export interface KubeletFaults {
  /** Images that cannot be pulled (ErrImagePull, then ImagePullBackOff forever). */
  brokenImages: Set<string>;
  /**
   * Runner images that pull and "install" fine but hold no crucible-runner (a broken build): the main
   * container's command then does not exist and the container runtime cannot start it (StartError).
   */
  emptyRunnerImages: Set<string>;
  /** Pods whose main container the kernel OOM-kills shortly after start. */
  oomKill: (pod: KObject) => boolean;
  /** Init containers (by pod and name) the kernel OOM-kills as they end (a compiler over its memory). */
  oomKillInit: (pod: KObject, container: string) => boolean;
  /** Pods whose container cannot be created (CreateContainerConfigError forever). */
  configError: (pod: KObject) => boolean;
  /** Pods deleted right after their container terminates (before a final log read can happen). */
  deleteAfterTermination: (pod: KObject) => boolean;
  /** Pods whose log the API server cannot fetch from the node any more (node unreachable: 500). */
  logsUnavailable: (pod: KObject) => boolean;
  /** The kubelet reports Running only after this delay (real: ~1 s sync); shorter runs jump to terminated. */
  runningReportDelayMs: number;
}

export interface KubeletOptions {
  /** Image → the host interpreter it stands for (the sandbox has no images, it runs host interpreters). */
  readonly images: Readonly<Record<string, string>>;
  /** Images that hold the crucible-runner binary at /crucible-runner. */
  readonly runnerImages: readonly string[];
  /** Bare interpreter names → host paths (only for the unisolated fallback, whose PATH is the host's). */
  readonly interpreters: Readonly<Record<string, string>>;
  /**
   * Image → host directories outside /usr it would hold (its toolchain's /etc/alternatives links, the JDK's
   * configuration), shown read-only: a real image has them, the sandbox shows no host /etc otherwise.
   */
  readonly imageDirs?: Readonly<Record<string, readonly string[]>>;
  /** Image → host files shown read-only at another path (the Node 24 a `node:24` image has, on PATH first). */
  readonly imageFiles?: Readonly<Record<string, readonly { hostPath: string; path: string }[]>>;
}

interface PodState {
  readonly log: ContainerLog;
  handle?: SandboxHandle;
  /** Host pid of a process in the container's sandbox (exec enters its namespaces), once known. */
  pid?: number;
  done: boolean;
}

type Status = Record<string, unknown>;

/**
 * The fake node: takes pods bound to it through ContainerCreating → running → terminated, really running the
 * main container's command in the local sandbox and keeping its combined log as a kubelet does.
 */
export class FakeKubelet implements ExecTarget {
  readonly faults: KubeletFaults = {
    brokenImages: new Set(),
    emptyRunnerImages: new Set(),
    oomKill: () => false,
    oomKillInit: () => false,
    configError: () => false,
    deleteAfterTermination: () => false,
    logsUnavailable: () => false,
    runningReportDelayMs: 0,
  };
  private readonly pods = new Map<string, PodState>();
  private stopped = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly sandbox: Sandbox,
    private readonly options: KubeletOptions,
  ) {}

  start(): void {
    this.store.subscribe((event) => {
      if (event.resource !== 'pods' || this.stopped) return;
      const pod = event.object;
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      if (event.type === 'DELETED') {
        void this.pods.get(key)?.handle?.kill();
        this.pods.delete(key);
        return;
      }
      if (!pod.spec?.['nodeName']) return;
      const state = this.pods.get(key);
      if (!state) {
        const fresh: PodState = { log: new ContainerLog(), done: false };
        this.pods.set(key, fresh);
        // A container the node cannot start is reported as such, as a real kubelet does, not left pending.
        void this.run(pod, fresh).catch((error: unknown) => {
          if (!this.stopped) this.cannotStart(pod, `failed to start the sandbox: ${String(error)}`);
        });
      } else if (pod.metadata.deletionTimestamp && !state.done) {
        if (state.handle) void state.handle.kill();
        else {
          // Deleted before its container ever started: nothing to kill, the pod simply fails.
          state.done = true;
          this.patchStatus(pod, (s) => {
            s['phase'] = 'Failed';
          });
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pods.values()].map((p) => p.handle?.kill()));
  }

  private patchStatus(pod: KObject, patch: (status: Status) => void): void {
    this.store.update('pods', pod.metadata.namespace ?? '', pod.metadata.name, (o) => {
      o.status ??= {};
      patch(o.status);
    });
  }

  private async run(pod: KObject, state: PodState): Promise<void> {
    const spec = pod.spec as { containers: Container[]; initContainers?: Container[]; volumes?: Volume[] };
    const main = spec.containers[0]!;
    const init = spec.initContainers ?? [];
    const waiting = (name: string, image: string, reason: string, message = ''): Status => ({
      name,
      image,
      ready: false,
      restartCount: 0,
      state: { waiting: { reason, ...(message ? { message } : {}) } },
    });
    this.patchStatus(pod, (s) => {
      s['phase'] = 'Pending';
      s['initContainerStatuses'] = init.map((c) => waiting(c.name, c.image, 'PodInitializing'));
      s['containerStatuses'] = [
        waiting(main.name, main.image, init.length ? 'PodInitializing' : 'ContainerCreating'),
      ];
    });
    await new Promise((r) => setImmediate(r));
    for (const container of [...init, main]) {
      const known =
        container.image in this.options.images ||
        this.options.runnerImages.includes(container.image) ||
        this.faults.emptyRunnerImages.has(container.image);
      if (this.faults.brokenImages.has(container.image) || !known) {
        const key = container === main ? 'containerStatuses' : 'initContainerStatuses';
        const msg = `rpc error: code = NotFound desc = failed to pull and unpack image "${container.image}"`;
        this.patchStatus(pod, (s) => {
          s[key] = [waiting(container.name, container.image, 'ErrImagePull', msg)];
        });
        await new Promise((r) => setTimeout(r, 100));
        this.patchStatus(pod, (s) => {
          s[key] = [
            waiting(
              container.name,
              container.image,
              'ImagePullBackOff',
              `Back-off pulling image "${container.image}"`,
            ),
          ];
        });
        return;
      }
    }
    // The init container of the runner image "installs" the runner into its emptyDir volume.
    const runnerVolumes = new Set(
      init.flatMap((c) =>
        this.options.runnerImages.includes(c.image) ? (c.volumeMounts ?? []).map((m) => m.name) : [],
      ),
    );
    const now = new Date().toISOString();
    this.patchStatus(pod, (s) => {
      // The runner's install is instant here; an init container that does work runs below (runInit).
      s['initContainerStatuses'] = init.map((c) =>
        !(c.image in this.options.images)
          ? {
              name: c.name,
              image: c.image,
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
            }
          : waiting(c.name, c.image, 'PodInitializing'),
      );
      s['containerStatuses'] = [waiting(main.name, main.image, 'ContainerCreating')];
    });
    if (this.faults.configError(pod)) {
      this.patchStatus(pod, (s) => {
        s['containerStatuses'] = [
          waiting(main.name, main.image, 'CreateContainerConfigError', 'secret "missing" not found'),
        ];
      });
      return;
    }
    // A Job's command uses its volumes at once (the compile stage writes /build): those are host tmpfs
    // bound at launch, not mounted after it as for sandbox pods, whose idle process never touches them. With
    // a compile init container /tmp is one too: the init container assembles the payload there for main.
    const jobPod = pod.metadata.ownerReferences?.some((o) => o.kind === 'Job') ?? false;
    // Init containers of a language image do work (a compile stage); the runner image's only installs.
    const work = init.filter((c) => c.image in this.options.images);
    const shared: PodVolumes = { jobPod, bindTmp: work.length > 0, runnerVolumes, dirs: new Map() };
    const release = () => Promise.all([...shared.dirs.values()].map((d) => d.remove().catch(() => {})));
    for (const container of work) {
      const ok = await this.runInit(pod, container, spec.volumes ?? [], shared).catch(
        async (error: unknown) => {
          await release();
          throw error;
        },
      );
      if (!ok) return void (await release());
    }
    const mounts = await this.mountsOf(pod, main, spec.volumes ?? [], shared);
    if (!mounts) return void (await release()); // FailedMount: stays ContainerCreating, as a real kubelet would.
    const { files, emptyDirs, binds: volumeBinds } = mounts;
    const command = [...(main.command ?? []), ...(main.args ?? [])];
    const entry = command[0] ?? '';
    if (entry.startsWith('/') && !files.some((f) => f.path === entry)) {
      return this.cannotStart(
        pod,
        'failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create ' +
          `failed: unable to start container process: exec: "${entry}": stat ${entry}: no such file or directory: unknown`,
      );
    }
    // argv[0] is the static runner binary itself, delivered above at the path the pod's command names.
    const argv = command.map((arg, index) =>
      index > 0 && command[index - 1] === '--' ? (this.options.interpreters[arg] ?? arg) : arg,
    );
    const memoryMb = Math.max(512, Number.parseInt(main.resources?.limits?.['memory'] ?? '256', 10));
    const hostDirs = this.options.imageDirs?.[main.image] ?? [];
    const env = Object.fromEntries((main.env ?? []).map((e) => [e.name, e.value ?? '']));
    // /tmp as the pod's tmp emptyDir sizes it (a compiler's temporary files and Go's build cache need room).
    const tmpVolume = spec.volumes?.find((v) => v.name === 'tmp')?.emptyDir;
    const tmpSizeMb = Math.max(64, Math.ceil(quantityBytes(tmpVolume?.sizeLimit, 64 << 20) / (1 << 20)));
    const binds = [
      ...volumeBinds,
      ...(this.options.imageFiles?.[main.image] ?? []).map((f) => ({ ...f, writable: false })),
    ];
    const handle = await this.sandbox
      .launch(
        {
          argv,
          files,
          ...(binds.length > 0 ? { binds } : {}),
          ...(hostDirs.length > 0 ? { hostDirs } : {}),
          ...(Object.keys(env).length > 0 ? { env } : {}),
          stdin: '',
          // No pids limit in a pod spec (the kubelet's podPidsLimit): 256 lets Go's and the JVM's threads run.
          limits: { timeoutSeconds: 3600, memoryMb, maxProcesses: 256, maxOutputBytes: 64 << 20, tmpSizeMb },
        },
        (_stream, data) => state.log.append(data),
      )
      .catch(async (error: unknown) => {
        await release();
        throw error;
      });
    void handle.exited.finally(release);
    state.handle = handle;
    if (this.stopped) void handle.kill();
    if (emptyDirs.length > 0) {
      // Volumes are set up before the container counts as running, so an exec never sees them missing.
      state.pid = await awaitContainerProcess(pod.metadata.name);
      for (const dir of emptyDirs) await mountEmptyDir(state.pid, dir.path, dir.sizeBytes);
    }
    const startedAt = handle.startedAt.toISOString();
    const oom = this.faults.oomKill(pod);
    if (oom) setTimeout(() => void handle.kill(), 50);
    const report = (): void => {
      if (state.done) return;
      this.patchStatus(pod, (s) => {
        s['phase'] = 'Running';
        s['containerStatuses'] = [containerStatus(main, true, { running: { startedAt } })];
      });
    };
    if (this.faults.runningReportDelayMs > 0) setTimeout(report, this.faults.runningReportDelayMs);
    else report();
    const exit = await handle.exited;
    state.done = true;
    state.log.close();
    const signals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 };
    const exitCode = oom || exit.oomKilled ? 137 : (exit.exitCode ?? 128 + (signals[exit.signal ?? ''] ?? 9));
    const reason = oom || exit.oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    this.patchStatus(pod, (s) => {
      s['phase'] = exitCode === 0 ? 'Succeeded' : 'Failed';
      s['containerStatuses'] = [
        containerStatus(main, false, {
          terminated: { exitCode, reason, startedAt, finishedAt: exit.finishedAt.toISOString() },
        }),
      ];
    });
    if (this.faults.deleteAfterTermination(pod))
      this.store.delete('pods', pod.metadata.namespace ?? '', pod.metadata.name);
  }

  /** The files, binds and post-launch emptyDirs of one container (pod-volumes.ts); null: a ConfigMap is missing. */
  private mountsOf(pod: KObject, container: Container, volumes: Volume[], shared: PodVolumes) {
    return containerMounts(this.store, pod, container, volumes, shared, {
      name: RUNNER_FILE,
      content: runnerContent,
    });
  }

  /**
   * Runs an init container that does work (a compile stage, not the runner's install) to its end in the
   * sandbox, with its own memory and the pod's shared volumes; false when it failed (the pod fails, main never
   * starts), as a kubelet with restartPolicy Never does.
   */
  private async runInit(
    pod: KObject,
    container: Container,
    volumes: Volume[],
    shared: PodVolumes,
  ): Promise<boolean> {
    const mounts = await this.mountsOf(pod, container, volumes, shared);
    if (!mounts) return false;
    const setState = (state: Record<string, unknown>) =>
      this.patchStatus(pod, (s) => {
        const list = (s['initContainerStatuses'] ?? []) as Status[];
        s['initContainerStatuses'] = list.map((c) => (c['name'] === container.name ? { ...c, state } : c));
      });
    const startedAt = new Date().toISOString();
    setState({ running: { startedAt } });
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
    const hostDirs = this.options.imageDirs?.[container.image] ?? [];
    const handle = await this.sandbox.launch(
      {
        argv: [...(container.command ?? []), ...(container.args ?? [])],
        files: mounts.files,
        ...(mounts.binds.length > 0 ? { binds: mounts.binds } : {}),
        ...(hostDirs.length > 0 ? { hostDirs } : {}),
        ...(Object.keys(env).length > 0 ? { env } : {}),
        stdin: '',
        limits: {
          timeoutSeconds: 3600,
          memoryMb: Math.max(512, Number.parseInt(container.resources?.limits?.['memory'] ?? '256', 10)),
          maxProcesses: 256,
          maxOutputBytes: 64 << 20,
          tmpSizeMb: 64,
        },
      },
      () => {},
    );
    const exit = await handle.exited;
    const oom = exit.oomKilled || this.faults.oomKillInit(pod, container.name);
    const exitCode = oom ? 137 : (exit.exitCode ?? 137);
    const reason = oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    setState({ terminated: { exitCode, reason, startedAt, finishedAt: exit.finishedAt.toISOString() } });
    if (exitCode === 0) return true;
    this.patchStatus(pod, (s) => {
      s['phase'] = 'Failed';
    });
    return false;
  }

  /** What containerd reports for a container it cannot start (e.g. its command does not exist): exit 128. */
  private cannotStart(pod: KObject, message: string): void {
    const main = (pod.spec as { containers: Container[] }).containers[0]!;
    const now = new Date().toISOString();
    this.patchStatus(pod, (s) => {
      s['phase'] = 'Failed';
      s['containerStatuses'] = [
        containerStatus(main, false, {
          terminated: { exitCode: 128, reason: 'StartError', message, startedAt: now, finishedAt: now },
        }),
      ];
    });
  }

  /** Evicts a pod as the Eviction API would: a `DisruptionTarget` condition, then the container is killed. */
  async evict(namespace: string, name: string): Promise<void> {
    this.store.update('pods', namespace, name, (p) => {
      p.status ??= {};
      const conditions = (p.status['conditions'] ?? []) as unknown[];
      p.status['conditions'] = [
        ...conditions,
        {
          type: 'DisruptionTarget',
          status: 'True',
          reason: 'EvictionByEvictionAPI',
          message: 'Eviction API: evicting',
          lastTransitionTime: new Date().toISOString(),
        },
      ];
    });
    await this.pods.get(`${namespace}/${name}`)?.handle?.kill();
  }

  /**
   * `pods/exec`: the checks the API server and kubelet make before upgrading (404 no pod, 400 unknown or
   * not running container), then a start function that runs the command inside the container's sandbox.
   */
  async prepareExec(namespace: string, name: string, options: ExecOptions): Promise<StartExec> {
    const pod = this.store.get('pods', namespace, name);
    if (!pod) throw new StoreError(404, 'NotFound', `pods "${name}" not found`);
    const containers = (pod.spec as { containers: Container[] }).containers;
    if (!options.container && containers.length > 1) {
      const names = containers.map((c) => c.name).join(' ');
      throw new StoreError(
        400,
        'BadRequest',
        `a container name must be specified for pod ${name}, choose one of: [${names}]`,
      );
    }
    const container = options.container
      ? containers.find((c) => c.name === options.container)
      : containers[0];
    if (!container) {
      throw new StoreError(400, 'BadRequest', `container ${options.container} is not valid for pod ${name}`);
    }
    const state = this.pods.get(`${namespace}/${name}`);
    if (!state?.handle || state.done || pod.status?.['phase'] !== 'Running') {
      throw new StoreError(
        400,
        'BadRequest',
        `unable to upgrade connection: container not found ("${container.name}")`,
      );
    }
    state.pid ??= await awaitContainerProcess(name, 2000);
    const pid = state.pid;
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
    const spec = { argv: options.argv, tty: options.tty, env, workingDir: container.workingDir ?? '/' };
    return (onOutput) => spawnInContainer(pid, spec, onOutput);
  }

  /** The log endpoint, with the real status codes: 404 gone, 204 unscheduled, 400 waiting. */
  openLog(
    namespace: string,
    name: string,
    container: string,
    options: { follow: boolean; timestamps: boolean; sinceTime: string | null },
    write: (chunk: string | Buffer) => void,
    end: () => void,
  ): () => void {
    const pod = this.store.get('pods', namespace, name);
    if (!pod) throw new StoreError(404, 'NotFound', `pods "${name}" not found`);
    if (!pod.spec?.['nodeName']) throw new StoreError(204, 'NoContent', '');
    if (this.faults.logsUnavailable(pod)) {
      const node = String(pod.spec['nodeName']);
      throw new StoreError(
        500,
        'InternalError',
        `Get "https://${node}:10250/containerLogs/${namespace}/${name}/${container}": dial tcp 10.0.0.7:10250: connect: connection refused`,
      );
    }
    const statuses = (pod.status?.['containerStatuses'] ?? []) as {
      name: string;
      state?: Record<string, { reason?: string }>;
    }[];
    const status = statuses.find((s) => s.name === container);
    if (!status)
      throw new StoreError(400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
    const state = this.pods.get(`${namespace}/${name}`);
    // The real kubelet reads logs from the container runtime, so a started container is readable even
    // before its Running status reached the API server.
    if (!state?.handle) {
      const reason = status.state?.['waiting']?.reason ?? 'ContainerCreating';
      throw new StoreError(
        400,
        'BadRequest',
        `container "${container}" in pod "${name}" is waiting to start: ${reason}`,
      );
    }
    return state.log.serve(options, write, end);
  }
}

/** A container's status entry as the kubelet reports it: `ready` and `started` while it runs. */
function containerStatus(container: Container, running: boolean, state: Record<string, unknown>) {
  return {
    name: container.name,
    image: container.image,
    ready: running,
    restartCount: 0,
    started: running,
    state,
  };
}
