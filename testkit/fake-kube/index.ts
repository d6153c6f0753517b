import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { LimitRange } from 'kubernetes-models/v1/LimitRange';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota';
import { LANGUAGES } from '../../src/core/index.js';
import { SANDBOX_NODE_PATH } from '../../src/runtime/local/interpreters.js';
import { FakeControllers } from './controllers.js';
import { FakeKubelet } from './kubelet.js';
import { emptyNamespace } from './namespaces.js';
import { loadSandbox, type Sandbox } from './sandbox.js';
import { FakeApiServer } from './server.js';
import { ObjectStore, StoreError, type KObject, type Resource } from './store.js';

export const RUNNER_IMAGE = 'ghcr.io/crucible/runner:0.1.0';

export interface FakeCluster {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly store: ObjectStore;
  readonly server: FakeApiServer;
  readonly kubelet: FakeKubelet;
  readonly controllers: FakeControllers;
  readonly isolation: string;
  /**
   * API server restart: refuse connections for `downMs`, then answer the next `throttled` requests with 429 +
   * Retry-After, with history reset. `whileDown` runs once the server refuses connections.
   */
  restart(options?: {
    downMs?: number;
    throttled?: number;
    retryAfterSeconds?: number;
    whileDown?: () => void;
  }): Promise<void>;
  close(): Promise<void>;
}

function hostPath(command: string): string {
  try {
    if (command === 'python3') {
      return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
        encoding: 'utf8',
      }).trim();
    }
    return execFileSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || command;
  } catch {
    return command;
  }
}

/** A kubeconfig whose current context is the fake server at `url`, namespace `crucible-test`. */
function writeKubeconfig(path: string, url: string): Promise<void> {
  return writeFile(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // Plain HTTP: the client refuses it unless TLS verification is explicitly skipped.
      clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: 'fake-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'crucible-test' } }],
      'current-context': 'fake',
    }),
  );
}

export interface FakeApiOnly {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly store: ObjectStore;
  readonly server: FakeApiServer;
  /** Writes another kubeconfig pointing at `url` (e.g. a proxy in front of this server). */
  kubeconfigFor(url: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The API server alone, without kubelet, controllers or sandbox: for clients that only read and write
 * objects (leader election's Leases). Objects are stored as sent; nothing reacts to them.
 *
 * @example
 * const api = await startFakeApiServer();
 * const election = createLeaderElection({ kubeconfigPath: api.kubeconfigPath, … });
 */
export async function startFakeApiServer(): Promise<FakeApiOnly> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-api-'));
  const store = new ObjectStore();
  const noLogs = {
    open(): never {
      throw new StoreError(404, 'NotFound', 'this fake API server has no kubelet');
    },
  };
  const server = new FakeApiServer(store, noLogs, { validate: () => undefined, deleted: () => undefined });
  await server.listen();
  const kubeconfigPath = join(dir, 'kubeconfig.yaml');
  await writeKubeconfig(kubeconfigPath, server.url);
  let extra = 0;
  return {
    get url() {
      return server.url;
    },
    kubeconfigPath,
    store,
    server,
    async kubeconfigFor(url) {
      const path = join(dir, `kubeconfig-${(extra += 1)}.yaml`);
      await writeKubeconfig(path, url);
      return path;
    },
    async close() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let sharedSandbox: Promise<Sandbox> | null = null;

/**
 * Closes the sandbox every fake cluster of this process shares (its warm pool keeps bwrap processes, and so
 * the process, alive). For programs that end by themselves, such as the benchmark; test workers just exit.
 */
export async function closeSharedSandbox(): Promise<void> {
  const sandbox = sharedSandbox;
  sharedSandbox = null;
  await (await sandbox)?.close();
}

/**
 * Starts the fake cluster on 127.0.0.1:0 and writes a kubeconfig pointing at it. The backend under test gets
 * only the kubeconfig path: it cannot tell this from a real API server.
 *
 * @example
 * const cluster = await startFakeCluster();
 * const runtime = await createKubernetesRuntime({ kubeconfigPath: cluster.kubeconfigPath });
 */
export async function startFakeCluster(
  options: { images?: Record<string, string> } = {},
): Promise<FakeCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
  sharedSandbox ??= loadSandbox(join(tmpdir(), 'fake-kube-sandbox-state'));
  const sandbox = await sharedSandbox;
  const store = new ObjectStore();
  const controllers = new FakeControllers(store);
  const images: Record<string, string> =
    options.images ?? Object.fromEntries(LANGUAGES.map((l) => [l.image, l.interpreter]));
  // The real sandbox resolves bare interpreter names itself (its PATH); the fallback needs host paths.
  const interpreters =
    sandbox.isolation === 'none'
      ? Object.fromEntries([...new Set(Object.values(images))].map((c) => [c, hostPath(c)]))
      : {};
  // What a language's real image holds beside /usr: its /etc (alternatives links, the JDK's configuration).
  const imageDirs = Object.fromEntries(
    LANGUAGES.map((l) => [
      l.image,
      [...new Set(['/etc/alternatives', ...('hostDirs' in l ? l.hostDirs : [])])],
    ]),
  );
  // A node image's Node is this process's own (24), first on the sandbox's PATH, not the host's /usr/bin/node.
  // (Binds need a real sandbox: the unisolated fallback runs the host's PATH.)
  const imageFiles = Object.fromEntries(
    LANGUAGES.filter((l) => l.interpreter === 'node' && sandbox.isolation !== 'none').map((l) => [
      l.image,
      [{ hostPath: process.execPath, path: SANDBOX_NODE_PATH }],
    ]),
  );
  const kubelet = new FakeKubelet(store, sandbox, {
    images,
    runnerImages: [RUNNER_IMAGE],
    interpreters,
    imageDirs,
    imageFiles,
  });
  const admission = {
    validate(resource: Resource, object: KObject): void {
      try {
        if (resource === 'jobs') new Job(object as never).validate();
        if (resource === 'pods') new Pod(object as never).validate();
        if (resource === 'configmaps') new ConfigMap(object as never).validate();
        if (resource === 'networkpolicies') new NetworkPolicy(object as never).validate();
        if (resource === 'namespaces') new Namespace(object as never).validate();
        if (resource === 'resourcequotas') new ResourceQuota(object as never).validate();
        if (resource === 'limitranges') new LimitRange(object as never).validate();
      } catch (error) {
        throw new StoreError(422, 'Invalid', `${resource} is invalid: ${String(error)}`);
      }
      if (
        resource === 'configmaps' &&
        Buffer.byteLength(JSON.stringify(object['data'] ?? {})) > 1024 * 1024
      ) {
        throw new StoreError(422, 'Invalid', 'ConfigMap "data" must have at most 1048576 bytes');
      }
    },
    deleted(resource: Resource, object: KObject, policy: string | null): void {
      if (resource === 'jobs') controllers.jobDeleted(object, policy);
      if (resource === 'namespaces') {
        emptyNamespace(store, object.metadata.name, (job) => controllers.jobDeleted(job, 'Background'));
      }
    },
  };
  const server = new FakeApiServer(store, { open: kubelet.openLog.bind(kubelet) }, admission, kubelet);
  controllers.start();
  kubelet.start();
  await server.listen();
  const kubeconfigPath = join(dir, 'kubeconfig.yaml');
  await writeKubeconfig(kubeconfigPath, server.url);
  return {
    get url() {
      return server.url;
    },
    kubeconfigPath,
    store,
    server,
    kubelet,
    controllers,
    isolation: sandbox.isolation,
    async restart({ downMs = 300, throttled = 2, retryAfterSeconds = 1, whileDown = () => undefined } = {}) {
      const port = server.port;
      await server.stop();
      whileDown();
      await new Promise((r) => setTimeout(r, downMs));
      store.compact();
      server.faults.throttle = { count: throttled, retryAfterSeconds };
      await server.listen(port);
    },
    async close() {
      await server.stop();
      controllers.stop();
      await kubelet.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
