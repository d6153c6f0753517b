import type { Readable } from 'node:stream';
import {
  KubeError,
  openKubeConfig,
  openStream,
  toKubeError,
  watchParams,
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
  /** POST of a new object; 409 AlreadyExists when one of that name exists. */
  create(namespace: string, object: EvaluationObject): Promise<EvaluationObject>;
  /** PUT …/status: only `status` is taken; `metadata.resourceVersion` must match (409 otherwise). */
  replaceStatus(object: EvaluationObject): Promise<EvaluationObject>;
  /** PUT of the main resource (finalizers): `status` is ignored by the server. */
  replace(object: EvaluationObject): Promise<EvaluationObject>;
  close(): Promise<void>;
}

const BASE = { group: EVALUATION_GROUP, version: EVALUATION_VERSION, plural: EVALUATION_PLURAL };

/**
 * `Evaluation` objects over `@kubernetes/client-node` (CustomObjectsApi), on the project's one KubeConfig
 * loader and connection pool. The watch is read with `openStream`, as the runtime's are, because the
 * library's `Watch` hides status codes the reflector needs.
 */
export async function createEvaluationApi(kubeconfigPath?: string): Promise<EvaluationApi> {
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
    watch: (namespace, query, signal) =>
      openStream({ k8s, config, cluster }, pathOf(namespace), watchParams(query), signal),
    create: (namespace, body) =>
      call(() =>
        custom.createNamespacedCustomObject({ ...BASE, namespace, body }),
      ) as Promise<EvaluationObject>,
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

export { KubeError };
