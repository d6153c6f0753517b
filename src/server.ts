import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { StreamLimiter, buildApi, evaluationWebhookBody } from './api/index.js';
import { redactedStoreUrl, storeUrl, type ServerConfig } from './config/index.js';
import { authRequired, isLoopbackHost } from './config/auth-flags.js';
import { EventBus, StoreEventFeed } from './events/index.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics/index.js';
import { openObjectStore } from './objects/index.js';
import { parseDuration } from './service/retention.js';
import { parseRetentionRule } from './service/retention-rules.js';
import { StorageGuard } from './service/storage-guard.js';
import { sandboxServiceFor } from './service/sandboxes-setup.js';
import { isTerminal } from './core/index.js';
import { createTracing, tracedRuntime, type Tracing } from './tracing/index.js';
import type { Runtime } from './runtime/runtime.js';
import { EvaluationService, type Logger } from './service/index.js';
import { createStore, type EvaluationStore, type WebhookSubjectKind } from './store/index.js';
import { packageVersion } from './version.js';

export interface ServerHooks {
  /** This replica was the leader and is no longer: it has stopped working and should exit (and restart). */
  readonly onLeadershipLost?: () => void;
}

export interface RunningServer {
  readonly url: string;
  readonly service: EvaluationService;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * The composition root: the one place that picks the store and runtime implementations and wires them
 * together. Optional backends (Kubernetes) are imported only when chosen.
 */
export async function startServer(
  config: ServerConfig,
  log: Logger = createLogger(),
  hooks: ServerHooks = {},
): Promise<RunningServer> {
  const dataDir = path.resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const store = await createStore(storeUrl(config));
  await store.migrate();
  const requireAuth = await authenticationFor(config, store, log);
  const objects = await openObjectStore({
    dataDir,
    ...(config.objects.url ? { url: config.objects.url } : {}),
    ...(config.objects.s3Endpoint ? { s3Endpoint: config.objects.s3Endpoint } : {}),
    ...(config.objects.s3ForcePathStyle !== undefined
      ? { s3ForcePathStyle: config.objects.s3ForcePathStyle }
      : {}),
  });
  const tracing = await createTracing({ ...config.tracing, serviceVersion: packageVersion() });
  const runtime = tracedRuntime(await createRuntime(config, dataDir, log, tracing), tracing);
  const slots = slotsFor(config, runtime, log);
  // Language versions are probed once, in the background from start-up, not by the first GET /v1/languages.
  void runtime.languages
    ?.list()
    .catch((e: unknown) => log.warn(`cannot probe language versions: ${String(e)}`));
  const bus = new EventBus();
  if (tracing.enabled) {
    bus.onTransition(({ transition, evaluation }) => {
      if (evaluation && isTerminal(transition.to)) tracing.finished(evaluation);
    });
  }
  const feed = store.shared
    ? new StoreEventFeed(store, bus, (error) => log.error(`reading changes from the store: ${String(error)}`))
    : undefined;
  // The Evaluation objects' client, when the CRD is on: the controller (leader) and the mirror (any replica).
  const crdApi = config.crd.enabled ? await evaluationApiFor(config) : null;
  const webhooks = await webhooksFor(
    config,
    store,
    log,
    (kind, id) =>
      kind === 'batch'
        ? (service.batches?.webhookBody(id) ?? Promise.resolve(null))
        : evaluationWebhookBody(service, id),
    tracing,
  );
  const service: EvaluationService = new EvaluationService({
    store,
    runtime,
    bus,
    ...(feed ? { feed } : {}),
    ...(crdApi ? { mirror: crdApi.mirror } : {}),
    ...(webhooks ? { webhooks } : {}),
    replicaId: config.replicaId,
    concurrency: slots,
    ...(config.globalConcurrency ? { globalConcurrency: config.globalConcurrency } : {}),
    leaseMs: config.leaseSeconds * 1000,
    agingMs: config.agingSeconds * 1000,
    defaultLimits: config.limits,
    objects,
    ...(config.storage.retention ? { retentionMs: parseDuration(config.storage.retention)! } : {}),
    retentionRules: config.storage.retentionFor.map(parseRetentionRule),
    storage: new StorageGuard({ path: dataDir, minFreeBytes: config.storage.minFreeMb * 1024 * 1024 }),
    log,
    ...(config.auth.adminToken ? { adminToken: config.auth.adminToken } : {}),
  });
  const sandboxes = await sandboxServiceFor(config, store, objects, log);
  const streams = new StreamLimiter(config.api.maxStreams, config.api.maxStreamsPerClient);
  const metrics = createMetrics(
    bus,
    () => service.queueStats(),
    () => streams.open,
    {
      ...(runtime.watchTelemetry ? { watch: runtime.watchTelemetry } : {}),
      ...storageTelemetryOf(service),
    },
  );
  let ready = false;
  const app = await buildApi({
    service,
    bounds: config.bounds,
    metrics,
    isReady: () => ready,
    rateLimitPerMinute: config.api.rateLimitPerMinute,
    streams,
    log,
    version: packageVersion(),
    authRequired: requireAuth,
    ...(sandboxes ? { sandboxes } : {}),
    tracing,
  });
  let closing: Promise<void> | undefined;
  const crd = crdApi ? crdControllerFor(config, crdApi, service, log) : null;
  const election = await leaderElectionFor(
    config,
    store.shared,
    service,
    log,
    () => {
      if (!closing) hooks.onLeadershipLost?.();
    },
    async () => crd?.start(),
  );
  await service.start({ work: !election });
  service.retention?.start();
  await sandboxes?.start();
  if (!election) crd?.start();
  await election?.start();
  ready = true;
  const address = await app.listen({ host: config.host, port: config.port });
  await sandboxes?.advertise(config.advertiseUrl ?? address);
  log.info(
    `listening on ${address} (replica ${config.replicaId}, runtime ${runtime.name}, store ${redactedStoreUrl(storeUrl(config))}, ${slots} slots${election ? ', leader election on' : ''})`,
  );
  return {
    url: address,
    service,
    app,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await crd?.stop();
        await election?.stop();
        await service.retention?.stop();
        await service.stop();
        // Live sandboxes hibernate to the object store, so a restart loses no workspace.
        await sandboxes?.close();
        await store.close();
        await objects.close();
        await tracing.shutdown();
      })()),
  };
}

/**
 * Whether every non-public call needs a token (docs/auth.md): on beyond loopback unless `--auth off`. A
 * server that would require tokens nobody can present refuses to start (and closes its store) rather than
 * listen answering 401 to everyone.
 */
async function authenticationFor(
  config: ServerConfig,
  store: EvaluationStore,
  log: Logger,
): Promise<boolean> {
  const required = authRequired(config);
  if (!required) {
    if (config.auth.mode === 'off' && !isLoopbackHost(config.host)) {
      log.warn(
        `!!! --auth off on ${config.host}: anyone who can reach the port can read and cancel everything !!!`,
      );
    }
    return false;
  }
  const stored = (await store.tokens?.countTokens()) ?? 0;
  if (!config.auth.adminToken && stored === 0) {
    await store.close();
    throw new Error(
      `authentication is on (listening on ${config.host}${config.auth.mode ? ', --auth required' : ', not loopback'}) ` +
        'but there is no way to authenticate: set CRUCIBLE_ADMIN_TOKEN to a bootstrap admin token ' +
        '(then create tokens with crucible token create), or pass --auth off to run without authentication',
    );
  }
  log.info(
    `authentication on: ${stored} stored token(s)${config.auth.adminToken ? ' and the bootstrap admin token' : ''}`,
  );
  return true;
}

/**
 * The webhook sender, when a signing secret is configured (without one a submission's webhook is refused:
 * see docs/webhooks.md). Loaded only then; the signing package only at the first delivery.
 */
async function webhooksFor(
  config: ServerConfig,
  store: EvaluationStore,
  log: Logger,
  bodyOf: (kind: WebhookSubjectKind, id: string) => Promise<string | null>,
  tracing: Tracing,
) {
  const { secret, allowPrivate } = config.webhooks;
  if (secret === undefined) return undefined;
  if (!store.webhooks) throw new Error('this store keeps no webhook outbox: --webhook-secret needs one');
  const { WebhookDeliveries } = await import('./webhooks/index.js');
  if (allowPrivate) log.warn('webhooks may target loopback and private addresses (--webhook-allow-private)');
  return new WebhookDeliveries({
    store: store.webhooks,
    owner: config.replicaId,
    secret,
    allowPrivate,
    payloadOf: bodyOf,
    log,
    ...(tracing.enabled
      ? {
          traceparentOf: (kind: WebhookSubjectKind, id: string) =>
            kind === 'batch' ? undefined : tracing.traceparent(id),
        }
      : {}),
  });
}

/**
 * Replicas of the Kubernetes backend on a shared store elect one leader over a `coordination.k8s.io/v1`
 * Lease: only it watches the cluster, claims queued work and writes run transitions; the others serve the
 * API. Local replicas each run their own sandboxes, so they all work and need no leader.
 */
async function leaderElectionFor(
  config: ServerConfig,
  sharedStore: boolean,
  service: EvaluationService,
  log: Logger,
  onLost: () => void,
  /** Started with the work (the Evaluation controller): only the leader reconciles. */
  onWorking: () => Promise<void> = async () => undefined,
): Promise<{ start(): Promise<void>; stop(): Promise<void> } | null> {
  if (config.backend !== 'kubernetes' || !sharedStore) return null;
  const { createLeaderElection } = await import('./cluster/index.js');
  const leaseMs = config.leaseSeconds * 1000;
  return createLeaderElection({
    ...(config.kubernetes.kubeconfig ? { kubeconfigPath: config.kubernetes.kubeconfig } : {}),
    namespace: config.leaderElection.namespace ?? config.kubernetes.namespace,
    name: config.leaderElection.name,
    identity: config.replicaId,
    leaseDurationMs: leaseMs,
    renewDeadlineMs: (leaseMs * 2) / 3,
    retryPeriodMs: Math.max(100, leaseMs / 7.5),
    onStartedLeading: async () => {
      log.info(`replica ${config.replicaId} is the leader: watching the cluster and running evaluations`);
      await service.startWork();
      await onWorking();
    },
    onStoppedLeading: () => {
      log.error(`replica ${config.replicaId} lost the leader Lease; it stops working`);
      onLost();
    },
    onNewLeader: (identity: string) => log.info(`the leader is ${identity}`),
  });
}

/**
 * Evaluations running at once: the configured value, except that the Kubernetes backend's default is
 * lowered to what the namespace's ResourceQuota admits (an explicit `--concurrency` wins, with a warning).
 */
function slotsFor(config: ServerConfig, runtime: Runtime, log: Logger): number {
  const quota = runtime.suggestedConcurrency?.(config.limits.memoryMb) ?? null;
  if (quota === null || quota >= config.concurrency) return config.concurrency;
  if (!config.concurrencyExplicit) return quota;
  log.warn(
    `--concurrency ${config.concurrency} exceeds what the namespace's ResourceQuota admits (${quota})`,
  );
  return config.concurrency;
}

async function createRuntime(
  config: ServerConfig,
  dataDir: string,
  log: Logger,
  tracing: Tracing,
): Promise<Runtime> {
  if (config.backend === 'kubernetes' && config.clusters.length > 0)
    return createClustersRuntime(config, log);
  if (config.backend === 'kubernetes') {
    const { createKubernetesRuntime } = await import('./runtime/kubernetes/index.js');
    return createKubernetesRuntime({
      ...kubernetesOptionsOf(config, log),
      // Each Kubernetes API call made during a launch becomes a child span of its `dispatch`.
      ...(tracing.enabled ? { traceCall: tracing.call } : {}),
      ...(config.kubernetes.kubeconfig ? { kubeconfigPath: config.kubernetes.kubeconfig } : {}),
    });
  }
  const { createSandbox, createLocalRuntime } = await import('./runtime/local/index.js');
  if (config.sandbox === 'none') {
    log.warn('!!! sandbox "none": evaluations run WITHOUT isolation. For development only. !!!');
  }
  const sandbox = await createSandbox({
    isolation: config.sandbox,
    stateDir: path.join(dataDir, 'sandbox'),
    warn: (message) => log.warn(message),
    artifactsMb: config.bounds.maxArtifactsMb,
  });
  return createLocalRuntime(sandbox, { compileLimits: config.compileLimits });
}

/** The Kubernetes runtime's options from the server's configuration (one cluster or each of several). */
function kubernetesOptionsOf(config: ServerConfig, log: Logger) {
  const k = config.kubernetes;
  if (!k.runnerImage) {
    log.warn(
      'no runner image set: the built-in default is published nowhere, so pods would end in ImagePullBackOff. ' +
        'Build deploy/runner and push it (README, "Deploy on Kubernetes"), then set CRUCIBLE_K8S_RUNNER_IMAGE.',
    );
  }
  return {
    namespace: k.namespace,
    ...(k.runtimeClassName ? { runtimeClassName: k.runtimeClassName } : {}),
    ...(k.priorityClassPrefix ? { priorityClassPrefix: k.priorityClassPrefix } : {}),
    ...(k.kueueQueue ? { kueueQueue: k.kueueQueue } : {}),
    ...(k.quotaWaitSeconds !== undefined ? { quotaWaitSeconds: k.quotaWaitSeconds } : {}),
    ...(k.runnerImage ? { runnerImage: k.runnerImage } : {}),
    compileLimits: config.compileLimits,
    warn: (message: string) => log.warn(message),
  };
}

/** `--cluster NAME=KUBECONFIG` repeated: one Kubernetes runtime per cluster behind one placement layer. */
async function createClustersRuntime(config: ServerConfig, log: Logger): Promise<Runtime> {
  const { createMultiClusterRuntime } = await import('./runtime/multi-cluster/index.js');
  const runtime = await createMultiClusterRuntime({
    clusters: config.clusters.map((c) => ({ name: c.name, kubeconfigPath: c.kubeconfig })),
    lostAfterMs: config.clusterLostAfterSeconds * 1000,
    defaultMemoryMb: config.limits.memoryMb,
    kubernetes: kubernetesOptionsOf(config, log),
  });
  log.info(`spreading evaluations over clusters ${config.clusters.map((c) => c.name).join(', ')}`);
  return runtime;
}

/**
 * The `Evaluation` custom resource controller (`--crd`), started where the work starts: at once without
 * leader election, on winning the Lease with it. `start` does not wait for the first list, so an API server
 * that does not answer yet never holds up the HTTP API.
 */
async function evaluationApiFor(config: ServerConfig) {
  const { createEvaluationApi, createEvaluationMirror, EvaluationController } =
    await import('./crd/index.js');
  const api = await createEvaluationApi(config.kubernetes.kubeconfig);
  const wanted = crdNamespaces(config);
  return { api, mirror: createEvaluationMirror(api, wanted), EvaluationController };
}

/** The namespaces whose Evaluation objects are reconciled; null for every namespace (`*`). */
function crdNamespaces(config: ServerConfig): string[] | null {
  const wanted = config.crd.namespaces ?? [config.kubernetes.namespace];
  return wanted.includes('*') ? null : wanted;
}

function crdControllerFor(
  config: ServerConfig,
  { api, EvaluationController }: Awaited<ReturnType<typeof evaluationApiFor>>,
  service: EvaluationService,
  log: Logger,
): { start(): void; stop(): Promise<void> } {
  const namespaces = crdNamespaces(config);
  const controller = new EvaluationController({
    service,
    api,
    namespaces,
    bounds: config.bounds,
    log,
  });
  let started = false;
  return {
    start() {
      if (started) return;
      started = true;
      log.info(`reconciling Evaluation objects in ${namespaces?.join(', ') ?? 'every namespace'}`);
      void controller.start();
    },
    async stop() {
      await controller.stop();
      await api.close();
    },
  };
}

/** Store size, free disk and pruned totals for `GET /metrics` (docs/retention.md). */
function storageTelemetryOf(service: EvaluationService) {
  const retention = service.retention;
  if (!retention) return {};
  return {
    storage: {
      storeBytes: () => retention.storeBytes(),
      ...(service.storage ? { freeBytes: () => service.storage!.freeBytes() } : {}),
      pruned: () => ({ evaluations: retention.prunedEvaluations, objects: retention.prunedObjects }),
    },
  };
}
