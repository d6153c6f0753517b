import { retryAfterMs } from '../../core/retry-after.js';
import type {
  KubeConfig,
  RequestContext,
  V1ConfigMap,
  V1Job,
  V1LimitRange,
  V1Namespace,
  V1NetworkPolicy,
  V1Pod,
  V1ResourceQuota,
} from '@kubernetes/client-node';
import { Readable } from 'node:stream';

/**
 * The only file that constructs the Kubernetes client. Everything else talks to the cluster through the
 * narrow `KubeApi` below, so tests and the poll/watch monitors take an injected API and no driver types leak.
 * Typed calls go through `@kubernetes/client-node`; the two streaming calls (watch and log follow) are done
 * here with the client's own auth and TLS dispatcher, because the library's `Watch`/`Log` hide status codes
 * and `Retry-After`, which the reflector needs.
 */

/** Every failed call becomes this: the HTTP status (0 when the connection failed) and what to wait. */
export class KubeError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly retryAfterMs: number | null = null,
    readonly reason: string | null = null,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export interface ObjectList<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

export interface ListQuery {
  readonly labelSelector: string;
  readonly resourceVersion?: string;
  readonly limit?: number;
  readonly continueToken?: string;
}

export interface WatchQuery {
  readonly labelSelector: string;
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
}

export interface LogQuery {
  readonly pod: string;
  readonly container: string;
  readonly follow: boolean;
  readonly sinceTime?: string;
}

export type WatchedKind = 'jobs' | 'pods';

export interface KubeApi {
  readonly namespace: string;
  createConfigMap(configMap: V1ConfigMap): Promise<'created' | 'exists'>;
  createJob(job: V1Job): Promise<'created' | 'exists'>;
  deleteJob(name: string): Promise<void>;
  deleteConfigMaps(labelSelector: string): Promise<void>;
  ensureNetworkPolicy(policy: V1NetworkPolicy): Promise<void>;
  /** The namespace's ResourceQuotas (hard limits), to size the default concurrency. */
  listResourceQuotas(): Promise<V1ResourceQuota[]>;
  listJobs(query: ListQuery): Promise<ObjectList<V1Job> & { continueToken?: string }>;
  listPods(query: ListQuery): Promise<ObjectList<V1Pod> & { continueToken?: string }>;
  /** Opens a watch; resolves once the response is 200, rejects with `KubeError` otherwise. */
  watch(kind: WatchedKind, query: WatchQuery, signal: AbortSignal): Promise<Readable>;
  /** Opens a log read; rejects with `KubeError` (400 waiting, 404 gone, …). */
  log(query: LogQuery, signal: AbortSignal): Promise<Readable>;
  /** Closes the connections; calls still in flight fail. */
  close(): Promise<void>;
  /** Projects' namespaces and the calls across them; absent on APIs that do not offer them. */
  readonly projects?: ProjectKubeApi;
}

/** The same calls in a project's namespace, plus the namespace-wide objects a project gets. */
export interface NamespacedKubeApi extends KubeApi {
  ensureResourceQuota(quota: V1ResourceQuota): Promise<void>;
  ensureLimitRange(limitRange: V1LimitRange): Promise<void>;
}

/** What project namespaces need beyond one namespace. Every call shares the one connection pool. */
export interface ProjectKubeApi {
  /** Creates the namespace; one that exists already is left as it is. */
  ensureNamespace(namespace: V1Namespace): Promise<void>;
  /** Deletes it with everything in it (the namespace controller's cascade); a missing one is a no-op. */
  deleteNamespace(name: string): Promise<void>;
  /** The API bound to another namespace; its `close` does nothing (the pool is the parent's). */
  inNamespace(namespace: string): NamespacedKubeApi;
  /** Lists and watches across every namespace (`/apis/batch/v1/jobs`, `/api/v1/pods`). */
  readonly allNamespaces: Pick<KubeApi, 'listJobs' | 'listPods' | 'watch'>;
}

/**
 * What the server asked us to wait: the `Retry-After` header (seconds, or an HTTP date), else the Status
 * body's `details.retryAfterSeconds` (the API server sends both on 429; its priority-and-fairness filter
 * says 1 s).
 */
function retryAfter(headers: Record<string, string> | Headers | undefined, status: unknown): number | null {
  const fromHeader = retryAfterMs(
    headers instanceof Headers ? headers.get('retry-after') : headers?.['retry-after'],
  );
  if (fromHeader !== null) return fromHeader;
  const details = statusField(status, 'details');
  const fromBody =
    details && typeof details === 'object' ? (details as Record<string, unknown>)['retryAfterSeconds'] : null;
  return typeof fromBody === 'number' && fromBody >= 0 ? fromBody * 1000 : null;
}

/** One field of a Status body that may still be JSON text. */
function statusField(body: unknown, field: string): unknown {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body) as unknown;
    } catch {
      return null;
    }
  }
  return parsed && typeof parsed === 'object' && field in parsed
    ? (parsed as Record<string, unknown>)[field]
    : null;
}

function statusReason(body: unknown): string | null {
  const reason = statusField(body, 'reason');
  return typeof reason === 'string' ? reason : null;
}

/** The one mapper from client failures to `KubeError`. */
export function toKubeError(error: unknown): KubeError {
  if (error instanceof KubeError) return error;
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'number') {
    const headers = 'headers' in error ? (error.headers as Record<string, string>) : undefined;
    const body = 'body' in error ? error.body : undefined;
    const detail = statusField(body, 'message');
    return new KubeError(
      `Kubernetes API answered ${error.code}${typeof detail === 'string' && detail ? `: ${detail}` : ''}`,
      error.code,
      retryAfter(headers, body),
      statusReason(body),
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  // undici says only "fetch failed"; the cause names the socket error (ECONNREFUSED, ECONNRESET…).
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : null;
  const code = cause && 'code' in cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
  return new KubeError(`Kubernetes API unreachable: ${message}${code}`, 0);
}

/**
 * Builds the API from a kubeconfig path, else `KUBECONFIG`/`~/.kube/config`, else the in-cluster service
 * account. The client library is loaded lazily so installations without Kubernetes never load it.
 */
export async function createKubeApi(options: {
  namespace: string;
  kubeconfigPath?: string;
}): Promise<KubeApi> {
  const { k8s, config, cluster, pool: dispatcher } = await openKubeConfig(options.kubeconfigPath);
  const core = config.makeApiClient(k8s.CoreV1Api);
  const batch = config.makeApiClient(k8s.BatchV1Api);
  const networking = config.makeApiClient(k8s.NetworkingV1Api);

  async function call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw toKubeError(error);
    }
  }
  async function create(run: () => Promise<unknown>): Promise<'created' | 'exists'> {
    try {
      await call(run);
      return 'created';
    } catch (error) {
      if (error instanceof KubeError && error.code === 409) return 'exists';
      throw error;
    }
  }
  const stream = (path: string, params: Record<string, string>, signal: AbortSignal) =>
    openStream({ k8s, config, cluster }, path, params, signal);

  const namespaced = (namespace: string): NamespacedKubeApi => ({
    namespace,
    close: () => dispatcher.close(),
    createConfigMap: (body) => create(() => core.createNamespacedConfigMap({ namespace, body })),
    createJob: (body) => create(() => batch.createNamespacedJob({ namespace, body })),
    async deleteJob(name) {
      try {
        await call(() => batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }));
      } catch (error) {
        if (!(error instanceof KubeError && error.code === 404)) throw error;
      }
    },
    async deleteConfigMaps(labelSelector) {
      await call(() => core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector }));
    },
    async ensureNetworkPolicy(body) {
      await create(() => networking.createNamespacedNetworkPolicy({ namespace, body }));
    },
    async listResourceQuotas() {
      return (await call(() => core.listNamespacedResourceQuota({ namespace }))).items;
    },
    async listJobs(query) {
      const list = await call(() => batch.listNamespacedJob(listArgs(namespace, query)));
      return pageOf(list);
    },
    async listPods(query) {
      const list = await call(() => core.listNamespacedPod(listArgs(namespace, query)));
      return pageOf(list);
    },
    watch(kind, query, signal) {
      const path =
        kind === 'jobs'
          ? `/apis/batch/v1/namespaces/${namespace}/jobs`
          : `/api/v1/namespaces/${namespace}/pods`;
      return stream(path, watchParams(query), signal);
    },
    log(query, signal) {
      const params: Record<string, string> = {
        container: query.container,
        follow: String(query.follow),
        timestamps: 'true',
      };
      if (query.sinceTime) params['sinceTime'] = query.sinceTime;
      return stream(
        `/api/v1/namespaces/${namespace}/pods/${encodeURIComponent(query.pod)}/log`,
        params,
        signal,
      );
    },
    async ensureResourceQuota(body) {
      await create(() => core.createNamespacedResourceQuota({ namespace, body }));
    },
    async ensureLimitRange(body) {
      await create(() => core.createNamespacedLimitRange({ namespace, body }));
    },
  });

  const projects: ProjectKubeApi = {
    async ensureNamespace(body) {
      await create(() => core.createNamespace({ body }));
    },
    async deleteNamespace(name) {
      try {
        await call(() => core.deleteNamespace({ name, propagationPolicy: 'Background' }));
      } catch (error) {
        if (!(error instanceof KubeError && error.code === 404)) throw error;
      }
    },
    inNamespace: (namespace) => ({ ...namespaced(namespace), close: async () => undefined }),
    allNamespaces: {
      async listJobs(query) {
        return pageOf(await call(() => batch.listJobForAllNamespaces(allArgs(query))));
      },
      async listPods(query) {
        return pageOf(await call(() => core.listPodForAllNamespaces(allArgs(query))));
      },
      watch(kind, query, signal) {
        return stream(kind === 'jobs' ? '/apis/batch/v1/jobs' : '/api/v1/pods', watchParams(query), signal);
      },
    },
  };
  return { ...namespaced(options.namespace), projects };
}

/** A cluster-wide list query in the client's parameter names. */
function allArgs(query: ListQuery) {
  return {
    labelSelector: query.labelSelector,
    resourceVersion: query.resourceVersion,
    limit: query.limit,
    _continue: query.continueToken,
  };
}

/**
 * The client library (loaded lazily: installations without Kubernetes never load it) and a KubeConfig from
 * a kubeconfig path, else `KUBECONFIG`/`~/.kube/config`, else the in-cluster service account, with every
 * request on one shared connection pool. Every Kubernetes client of this project is built from this.
 */
export async function openKubeConfig(kubeconfigPath?: string) {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
  else config.loadFromDefault();
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new KubeError('The kubeconfig names no current cluster.', 0);
  return { k8s, config, cluster, pool: shareOneDispatcher(config) };
}

/** A watch request's query string: from a resourceVersion, with bookmarks, ended by the server in time. */
export function watchParams(query: WatchQuery): Record<string, string> {
  return {
    watch: 'true',
    ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}),
    resourceVersion: query.resourceVersion,
    allowWatchBookmarks: 'true',
    timeoutSeconds: String(query.timeoutSeconds),
  };
}

export type OpenedKubeConfig = Pick<Awaited<ReturnType<typeof openKubeConfig>>, 'k8s' | 'config' | 'cluster'>;

/**
 * A streaming GET (a watch, a followed log) the generated client cannot do: the body as a Node stream, with
 * the kubeconfig's credentials and the shared connection pool; a non-200 answer is a `KubeError`.
 */
export async function openStream(
  { k8s, config, cluster }: OpenedKubeConfig,
  path: string,
  params: Record<string, string>,
  signal: AbortSignal,
): Promise<Readable> {
  const { fetch } = await import('undici');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const ctx = new k8s.RequestContext(url.toString(), k8s.HttpMethod.GET);
  await config.applySecurityAuthentication(ctx);
  let response;
  try {
    response = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher(), signal });
  } catch (error) {
    throw toKubeError(error);
  }
  if (response.status !== 200 || !response.body) {
    const text = await response.text().catch(() => '');
    throw new KubeError(
      `Kubernetes API answered ${response.status} for ${path}`,
      response.status,
      retryAfter(response.headers as unknown as Headers, text),
      statusReason(text),
    );
  }
  return Readable.fromWeb(response.body as never);
}

/**
 * The client builds a new undici Agent (connection pool) for every request: one new TCP (and TLS)
 * connection per call, each held open for the keep-alive time. Under load (log reads retried every 100 ms
 * per pod) that runs the process out of file descriptors. Every request here uses the first one instead.
 * Its TLS options come from the kubeconfig, read once.
 */
function shareOneDispatcher(config: KubeConfig): { close(): Promise<void> } {
  const authenticate = config.applySecurityAuthentication.bind(config);
  let shared: ReturnType<RequestContext['getDispatcher']>;
  config.applySecurityAuthentication = async (context: RequestContext) => {
    await authenticate(context);
    shared ??= context.getDispatcher();
    if (shared) context.setDispatcher(shared);
  };
  return { close: async () => shared?.destroy() };
}

/** A list query in the client's parameter names. */
function listArgs(namespace: string, query: ListQuery) {
  return {
    namespace,
    labelSelector: query.labelSelector,
    resourceVersion: query.resourceVersion,
    limit: query.limit,
    _continue: query.continueToken,
  };
}

/** The part of a list response the reflector needs: items, the list's resourceVersion, the continue token. */
function pageOf<T>(list: { items: T[]; metadata?: { resourceVersion?: string; _continue?: string } }) {
  return {
    items: list.items,
    resourceVersion: list.metadata?.resourceVersion ?? '',
    continueToken: list.metadata?._continue,
  };
}
