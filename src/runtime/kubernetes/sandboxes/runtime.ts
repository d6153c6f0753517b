import type { CoreV1Api, Exec, V1Pod } from '@kubernetes/client-node';
import { AgentClient } from '../../sandbox/agent-client.js';
import { MAX_FILE_BYTES, prepareAgent } from '../../sandbox/prepare.js';
import type {
  InstanceExit,
  SandboxInstance,
  SandboxInstanceSpec,
  SandboxRuntime,
} from '../../sandbox/sandbox-runtime.js';
import { retryUntil, type RetryOptions } from '../backoff.js';
import {
  createKubeApi,
  KubeError,
  openKubeConfig,
  openStream,
  toKubeError,
  type KubeApi,
} from '../kube-client.js';
import { buildNamespaceManifests } from '../manifests.js';
import { MAIN_CONTAINER } from '../names.js';
import { ProjectNamespaces } from '../namespaces.js';
import { openExecStream } from './exec-stream.js';
import {
  AGENT_COMMAND,
  buildSandboxPod,
  sandboxPodName,
  sandboxSelector,
  type SandboxManifestOptions,
} from './manifests.js';
import { podVerdict } from './pod-state.js';
import { followPod, type PodSource } from './pod-watch.js';

export interface KubernetesSandboxRuntimeOptions extends Partial<SandboxManifestOptions> {
  readonly kubeconfigPath?: string;
  /** How long a new pod may take to run (scheduling, image pull, init container) before create fails. */
  readonly startTimeoutMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly requestTimeoutMs?: number;
  readonly warn?: (message: string) => void;
}

interface Cluster {
  readonly core: CoreV1Api;
  readonly exec: Exec;
  readonly api: KubeApi;
  readonly opened: Awaited<ReturnType<typeof openKubeConfig>>;
  readonly projects: ProjectNamespaces;
  readonly options: Required<Omit<KubernetesSandboxRuntimeOptions, 'kubeconfigPath' | 'runtimeClassName'>> &
    Pick<SandboxManifestOptions, 'runtimeClassName'>;
}

/** A watch on exactly one pod, from a resourceVersion (the create's answer, so no event is missed). */
function podSource(cluster: Cluster, namespace: string, name: string): PodSource {
  return {
    watch: (resourceVersion, signal) =>
      openStream(
        cluster.opened,
        `/api/v1/namespaces/${namespace}/pods`,
        {
          watch: 'true',
          fieldSelector: `metadata.name=${name}`,
          resourceVersion,
          allowWatchBookmarks: 'true',
          timeoutSeconds: '300',
        },
        signal,
      ),
    async read() {
      try {
        return await cluster.core.readNamespacedPod({ name, namespace });
      } catch (error) {
        const kube = toKubeError(error);
        if (kube.code === 404) return null;
        throw kube;
      }
    },
  };
}

/**
 * Interactive sandboxes on Kubernetes: a Pod per sandbox instance (not a Job: it runs until destroyed), locked
 * down like an evaluation's, whose main process (`crucible-runner idle`) only holds the container; every
 * connection is a `pods/exec` of `crucible-runner agent`, a fresh agent process sharing the pod's /workspace.
 * Readiness is a watch on the pod from the create's resourceVersion, never a poll; `ended` follows the same
 * watch afterwards. Hibernation needs nothing here: the service archives through the agent, destroys, and
 * restores into the next instance.
 */
export async function createKubernetesSandboxRuntime(
  input: KubernetesSandboxRuntimeOptions = {},
): Promise<SandboxRuntime> {
  const options: Cluster['options'] = {
    namespace: input.namespace ?? 'crucible-evaluations',
    images: input.images ?? {},
    runnerImage: input.runnerImage ?? 'ghcr.io/crucible/runner:0.1.0',
    cpuRequest: input.cpuRequest ?? '100m',
    cpuLimit: input.cpuLimit ?? '1',
    startTimeoutMs: input.startTimeoutMs ?? 120_000,
    backoffInitialMs: input.backoffInitialMs ?? 800,
    backoffMaxMs: input.backoffMaxMs ?? 30_000,
    requestTimeoutMs: input.requestTimeoutMs ?? 10_000,
    warn: input.warn ?? ((message) => process.emitWarning(message)),
    ...(input.runtimeClassName ? { runtimeClassName: input.runtimeClassName } : {}),
  };
  const opened = await openKubeConfig(input.kubeconfigPath);
  const api = await createKubeApi({
    namespace: options.namespace,
    ...(input.kubeconfigPath ? { kubeconfigPath: input.kubeconfigPath } : {}),
  });
  const cluster: Cluster = {
    core: opened.config.makeApiClient(opened.k8s.CoreV1Api),
    exec: new opened.k8s.Exec(opened.config),
    api,
    opened,
    projects: new ProjectNamespaces(api),
    options,
  };
  const live = new Set<KubernetesSandbox>();
  let defaultNamespaceReady: Promise<void> | null = null;
  const retry = (deadline: number): RetryOptions => ({
    deadline,
    initialMs: options.backoffInitialMs,
    maxMs: options.backoffMaxMs,
    attemptTimeoutMs: options.requestTimeoutMs,
    warn: options.warn,
  });

  /** The namespace's default-deny NetworkPolicy (or the project's namespace objects), once per runtime. */
  async function namespaceFor(spec: SandboxInstanceSpec, deadline: number): Promise<string> {
    if (spec.project) return (await cluster.projects.ensure(spec.project, retry(deadline))).namespace;
    defaultNamespaceReady ??= retryUntil(
      `ensure NetworkPolicy in ${options.namespace}`,
      () => api.ensureNetworkPolicy(buildNamespaceManifests(options)[0]!),
      retry(deadline),
    ).catch((error: unknown) => {
      defaultNamespaceReady = null;
      throw error;
    });
    await defaultNamespaceReady;
    return options.namespace;
  }

  return {
    name: 'kubernetes',
    async create(spec) {
      const deadline = Date.now() + options.startTimeoutMs;
      const namespace = await namespaceFor(spec, deadline);
      const pod = buildSandboxPod(spec, options, sandboxPodName(spec.sandboxId));
      const name = pod.metadata!.name!;
      let created: V1Pod;
      try {
        created = await cluster.core.createNamespacedPod({ namespace, body: pod });
      } catch (error) {
        throw new Error(`cannot create the sandbox pod: ${toKubeError(error).message}`, { cause: error });
      }
      const sandbox = new KubernetesSandbox(cluster, spec, namespace, name);
      try {
        await sandbox.start(created, deadline);
        live.add(sandbox);
        void sandbox.ended.then(() => live.delete(sandbox));
        return sandbox;
      } catch (error) {
        await sandbox.destroy();
        throw error;
      }
    },
    async adopt(sandboxId, spec) {
      const namespace = spec.project?.namespace ?? options.namespace;
      const pods = await cluster.core.listNamespacedPod({
        namespace,
        labelSelector: sandboxSelector(sandboxId),
      });
      const running = pods.items.find((p) => podVerdict(p).kind === 'running');
      for (const stale of pods.items.filter((p) => p !== running)) {
        await cluster.core
          .deleteNamespacedPod({ namespace, name: stale.metadata!.name! })
          .catch(() => undefined);
      }
      if (!running) return null;
      const sandbox = new KubernetesSandbox(cluster, spec, namespace, running.metadata!.name!);
      sandbox.follow(running.metadata?.resourceVersion ?? '0');
      live.add(sandbox);
      return sandbox;
    },
    /** Leaves the pods running (a restarted server adopts them); closes connections and watches. */
    async close() {
      await Promise.all([...live].map((s) => s.detach()));
      live.clear();
      await api.close();
      await opened.pool.close();
    },
  };
}

/** One sandbox pod and its agent connections. */
class KubernetesSandbox implements SandboxInstance {
  readonly startedAt = new Date();
  readonly ended: Promise<InstanceExit>;
  #resolveEnded!: (exit: InstanceExit) => void;
  readonly #watch = new AbortController();
  #client: AgentClient | null = null;
  #destroyed: Promise<void> | null = null;
  #connecting: Promise<AgentClient> | null = null;
  #connections = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly spec: SandboxInstanceSpec,
    private readonly namespace: string,
    readonly podName: string,
  ) {
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  get sandboxId(): string {
    return this.spec.sandboxId;
  }

  /** Waits (watching) until the pod runs, then connects and prepares the agent: env and initial files. */
  async start(created: V1Pod, deadline: number): Promise<void> {
    const source = podSource(this.cluster, this.namespace, this.podName);
    let outcome = podVerdict(created);
    let lastRv = created.metadata?.resourceVersion ?? '0';
    const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    const signal = AbortSignal.any([timeout, this.#watch.signal]);
    if (outcome.kind === 'pending') {
      await followPod(
        source,
        lastRv,
        (pod) => {
          outcome = podVerdict(pod);
          lastRv = pod?.metadata?.resourceVersion ?? lastRv;
          return outcome.kind !== 'pending';
        },
        signal,
        this.backoff(),
      );
    }
    if (outcome.kind === 'pending') {
      const note = outcome.note ? `: ${outcome.note}` : '';
      throw new Error(`the sandbox pod ${this.podName} did not start in time${note}`);
    }
    if (outcome.kind !== 'running') throw new Error(outcome.message);
    this.follow(lastRv);
    const client = await this.connectAgent();
    await prepareAgent(client, this.spec);
    this.#client = client;
  }

  /** Resolves `ended` when the pod stops or disappears by itself (until destroy or detach). */
  follow(resourceVersion: string): void {
    const source = podSource(this.cluster, this.namespace, this.podName);
    void followPod(
      source,
      resourceVersion,
      (pod) => {
        const verdict = podVerdict(pod);
        if (verdict.kind !== 'ended' || this.#destroyed) return false;
        this.#resolveEnded({ reason: verdict.reason, message: verdict.message });
        return true;
      },
      this.#watch.signal,
      this.backoff(),
    );
  }

  private backoff() {
    return { initialMs: this.cluster.options.backoffInitialMs, maxMs: this.cluster.options.backoffMaxMs };
  }

  private async connectAgent(): Promise<AgentClient> {
    const stream = await openExecStream(
      this.cluster.exec,
      { namespace: this.namespace, pod: this.podName, container: MAIN_CONTAINER, command: AGENT_COMMAND },
      (text) => this.cluster.options.warn(`sandbox ${this.sandboxId} agent: ${text.trimEnd()}`),
    );
    this.#connections += 1;
    return new AgentClient(stream);
  }

  /**
   * The live agent connection, or a new exec (a fresh agent process: its execs and PTYs start empty; the
   * spec's env is sent again, the files are already in /workspace).
   */
  connect(): Promise<AgentClient> {
    if (this.#destroyed) return Promise.reject(new KubeError(`sandbox ${this.sandboxId} is destroyed`, 410));
    if (this.#client?.alive) return Promise.resolve(this.#client);
    // Callers racing after a drop share one new exec instead of each starting an agent.
    this.#connecting ??= (async () => {
      try {
        const client = await this.connectAgent();
        await client.ready;
        await client.init(this.spec.env, MAX_FILE_BYTES);
        this.#client = client;
        return client;
      } finally {
        this.#connecting = null;
      }
    })();
    return this.#connecting;
  }

  /** Exec connections opened so far (the first is create's). */
  get connections(): number {
    return this.#connections;
  }

  /** Stops watching and closes the agent connection; the pod stays (close of the runtime). */
  async detach(): Promise<void> {
    this.#watch.abort();
    this.#client?.shutdown();
    this.#client = null;
  }

  /** Deletes the pod (its grace period is 1 s); idempotent. Resolves once the API server accepted it. */
  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      await this.detach();
      try {
        await this.cluster.core.deleteNamespacedPod({ name: this.podName, namespace: this.namespace });
      } catch (error) {
        const kube = toKubeError(error);
        if (kube.code !== 404) throw kube;
      }
    })();
    return this.#destroyed;
  }
}
