import type { ConfigurationOptions, RequestContext, ResponseContext, V1Lease } from '@kubernetes/client-node';
import { KubeError, openKubeConfig, toKubeError } from '../runtime/kubernetes/kube-client.js';

/**
 * One `coordination.k8s.io/v1` Lease through `@kubernetes/client-node`'s CoordinationV1Api: read, create,
 * replace (PUT, so the API server checks `metadata.resourceVersion`: a stale one answers 409). Failures are
 * `KubeError`s from the runtime's one error mapper. Every call takes an `AbortSignal`, so a request to a
 * server that accepted the connection and never answers ends when the caller's deadline does.
 */

/** The leader-election record kept in a Lease's spec (client-go's `LeaderElectionRecord`). */
export interface LeaderRecord {
  /** '' when nobody holds the lease (released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** MicroTime strings as the server sent them (`2006-01-02T15:04:05.000000Z`), or null. */
  readonly acquireTime: string | null;
  readonly renewTime: string | null;
  readonly leaseTransitions: number;
}

/** A Lease as last read or written: its record and what a conditional PUT needs. */
export interface ObservedLease {
  readonly record: LeaderRecord;
  readonly resourceVersion: string;
  /** The whole object, sent back on update so fields this code does not know survive. */
  readonly object: V1Lease;
}

export interface LeaseClient {
  /** The Lease, or null when there is none (404). */
  get(signal: AbortSignal): Promise<ObservedLease | null>;
  /** Creates the Lease; 409 AlreadyExists when another candidate created it first. */
  create(record: LeaderRecord, signal: AbortSignal): Promise<ObservedLease>;
  /** Replaces the record of `current`, conditional on its resourceVersion (409 Conflict when stale). */
  update(current: ObservedLease, record: LeaderRecord, signal: AbortSignal): Promise<ObservedLease>;
  /** Closes the connection pool; calls in flight fail. */
  close(): Promise<void>;
}

function recordOf(lease: V1Lease): LeaderRecord {
  const spec = lease.spec ?? {};
  const time = (value: unknown): string | null =>
    value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : null;
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: time(spec.acquireTime),
    renewTime: time(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function observed(lease: V1Lease): ObservedLease {
  return { record: recordOf(lease), resourceVersion: lease.metadata?.resourceVersion ?? '', object: lease };
}

/**
 * Builds the client from a kubeconfig path, else `KUBECONFIG`/`~/.kube/config`, else the in-cluster service
 * account, exactly as `createKubeApi` does. The library is loaded lazily: single-process installations never
 * load it.
 */
export async function createLeaseClient(options: {
  namespace: string;
  name: string;
  kubeconfigPath?: string;
}): Promise<LeaseClient> {
  const { k8s, config, pool } = await openKubeConfig(options.kubeconfigPath);
  const api = config.makeApiClient(k8s.CoordinationV1Api);
  const { namespace, name } = options;

  // Lease times are MicroTime: the API server parses exactly six fractional digits, and the library's
  // V1MicroTime writes them (a plain Date would be sent with three and rejected with 400).
  const spec = (record: LeaderRecord) => ({
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTime ? new k8s.V1MicroTime(record.acquireTime) : undefined,
    renewTime: record.renewTime ? new k8s.V1MicroTime(record.renewTime) : undefined,
    leaseTransitions: record.leaseTransitions,
  });

  /** Per call: the signal goes on the request (the generated object API takes Observable middleware). */
  const abortWith = (signal: AbortSignal): ConfigurationOptions => ({
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new k8s.Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new k8s.Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  });

  async function call<T>(
    signal: AbortSignal,
    run: (options: ConfigurationOptions) => Promise<T>,
  ): Promise<T> {
    if (signal.aborted) throw new KubeError('Kubernetes API call abandoned', 0);
    try {
      return await run(abortWith(signal));
    } catch (error) {
      if (signal.aborted) throw new KubeError('Kubernetes API did not answer in time', 0);
      throw toKubeError(error);
    }
  }

  return {
    async get(signal) {
      try {
        return observed(await call(signal, (o) => api.readNamespacedLease({ name, namespace }, o)));
      } catch (error) {
        if (error instanceof KubeError && error.code === 404) return null;
        throw error;
      }
    },
    async create(record, signal) {
      const body = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: spec(record),
      };
      return observed(await call(signal, (o) => api.createNamespacedLease({ namespace, body }, o)));
    },
    async update(current, record, signal) {
      // The object as read, resourceVersion included: the server refuses the PUT if anyone wrote since.
      const body: V1Lease = { ...current.object, spec: { ...current.object.spec, ...spec(record) } };
      return observed(await call(signal, (o) => api.replaceNamespacedLease({ name, namespace, body }, o)));
    },
    close: () => pool.close(),
  };
}
