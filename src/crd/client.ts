import { Readable } from 'node:stream';
import {
  KubeError,
  openKubeConfig,
  toKubeError,
  type ListQuery,
  type ObjectList,
  type WatchQuery,
} from '../runtime/kubernetes/kube-client.js';
import { EVALUATION_GROUP, EVALUATION_PLURAL, EVALUATION_VERSION } from './definition.js';
import type { EvaluationObjectStatus } from './status.js';

/** An `Evaluation` object as the controller reads it. */
export interface EvaluationObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    [key: string]: unknown;
  };
  spec: Record<string, unknown>;
  status?: EvaluationObjectStatus;
}

/** The calls the controller makes on `Evaluation` objects; `namespace: null` means every namespace. */
export interface EvaluationApi {
  list(
    namespace: string | null,
    query: ListQuery,
    signal: AbortSignal,
  ): Promise<ObjectList<EvaluationObject> & { continueToken?: string }>;
  watch(namespace: string | null, query: WatchQuery, signal: AbortSignal): Promise<Readable>;
  get(namespace: string, name: string): Promise<EvaluationObject>;
  /** PUT …/status: only `status` is taken; `metadata.resourceVersion` must match (409 otherwise). */
  replaceStatus(object: EvaluationObject): Promise<EvaluationObject>;
  /** PUT of the main resource (finalizers): `status` is ignored by the server. */
  replace(object: EvaluationObject): Promise<EvaluationObject>;
  close(): Promise<void>;
}

const BASE = { group: EVALUATION_GROUP, version: EVALUATION_VERSION, plural: EVALUATION_PLURAL };

/**
 * `Evaluation` objects over `@kubernetes/client-node` (CustomObjectsApi), on the project's one KubeConfig
 * loader and connection pool. The watch is read here with the client's auth and dispatcher, as
 * `kube-client.ts` does, because the library's `Watch` hides status codes the reflector needs.
 */
export async function createEvaluationApi(kubeconfigPath?: string): Promise<EvaluationApi> {
  const { fetch } = await import('undici');
  const { k8s, config, cluster, pool } = await openKubeConfig(kubeconfigPath);
  const custom = config.makeApiClient(k8s.CustomObjectsApi);
  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw toKubeError(error);
    }
  };
  const pathOf = (namespace: string | null) =>
    `/apis/${EVALUATION_GROUP}/${EVALUATION_VERSION}` +
    (namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '') +
    `/${EVALUATION_PLURAL}`;

  return {
    close: () => pool.close(),
    async list(namespace, query) {
      const params = {
        ...BASE,
        labelSelector: query.labelSelector || undefined,
        resourceVersion: query.resourceVersion,
        limit: query.limit,
        _continue: query.continueToken,
      };
      const list = (await call(() =>
        namespace
          ? custom.listNamespacedCustomObject({ ...params, namespace })
          : custom.listCustomObjectForAllNamespaces({ ...params, resourcePlural: EVALUATION_PLURAL }),
      )) as { items: EvaluationObject[]; metadata?: { resourceVersion?: string; continue?: string } };
      return {
        items: list.items,
        resourceVersion: list.metadata?.resourceVersion ?? '',
        continueToken: list.metadata?.continue,
      };
    },
    async watch(namespace, query, signal) {
      const url = new URL(cluster.server.replace(/\/$/, '') + pathOf(namespace));
      url.searchParams.set('watch', 'true');
      if (query.labelSelector) url.searchParams.set('labelSelector', query.labelSelector);
      url.searchParams.set('resourceVersion', query.resourceVersion);
      url.searchParams.set('allowWatchBookmarks', 'true');
      url.searchParams.set('timeoutSeconds', String(query.timeoutSeconds));
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
        throw toKubeError({ code: response.status, body: text, headers: headersOf(response.headers) });
      }
      return Readable.fromWeb(response.body);
    },
    get: (namespace, name) =>
      call(() => custom.getNamespacedCustomObject({ ...BASE, namespace, name })) as Promise<EvaluationObject>,
    replaceStatus: (object) =>
      call(() =>
        custom.replaceNamespacedCustomObjectStatus({
          ...BASE,
          namespace: object.metadata.namespace,
          name: object.metadata.name,
          body: object,
        }),
      ) as Promise<EvaluationObject>,
    replace: (object) =>
      call(() =>
        custom.replaceNamespacedCustomObject({
          ...BASE,
          namespace: object.metadata.namespace,
          name: object.metadata.name,
          body: object,
        }),
      ) as Promise<EvaluationObject>,
  };
}

function headersOf(headers: { forEach(cb: (value: string, key: string) => void): void }) {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => (out[key] = value));
  return out;
}

export { KubeError };
