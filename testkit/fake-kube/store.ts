import { randomUUID } from 'node:crypto';

/** A stored object; the fake keeps plain JSON like etcd does. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    ownerReferences?: { uid: string; kind: string; name: string; apiVersion: string; controller?: boolean }[];
    generateName?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export type Resource =
  | 'pods'
  | 'jobs'
  | 'configmaps'
  | 'networkpolicies'
  | 'resourcequotas'
  | 'leases'
  /** Cluster-scoped: stored under the namespace "". */
  | 'namespaces'
  | 'limitranges';

/** API group of each resource: Status messages and details name `jobs.batch`, `leases.coordination.k8s.io`. */
const GROUPS: Record<Resource, string> = {
  pods: '',
  configmaps: '',
  resourcequotas: '',
  jobs: 'batch',
  networkpolicies: 'networking.k8s.io',
  leases: 'coordination.k8s.io',
  namespaces: '',
  limitranges: '',
};

/** The group-qualified resource, as the API server writes it in messages (`leases.coordination.k8s.io`). */
export function qualified(resource: Resource): string {
  return GROUPS[resource] ? `${resource}.${GROUPS[resource]}` : resource;
}

/** How PUT behaves per resource, the registry strategy's `AllowCreateOnUpdate`/`AllowUnconditionalUpdate`. */
export interface UpdateStrategy {
  /** PUT of a missing object creates it (Leases, Endpoints, Events). */
  readonly allowCreateOnUpdate: boolean;
  /** PUT without `metadata.resourceVersion` overwrites whatever is stored (false for Leases: 422). */
  readonly allowUnconditionalUpdate: boolean;
}

/** `details` of a Status body: which object the failure is about. */
export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly causes?: { reason: string; message: string; field: string }[];
}
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  readonly rv: number;
  readonly resource: Resource;
  readonly type: EventType;
  readonly object: KObject;
}

export class StoreError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }
}

const OPTIMISTIC_LOCK =
  'the object has been modified; please apply your changes to the latest version and try again';

/** The API server's errors for one named object (apimachinery `NewNotFound`, `NewAlreadyExists`, `NewConflict`). */
export const objectErrors = {
  notFound: (resource: Resource, name: string): StoreError =>
    new StoreError(404, 'NotFound', `${qualified(resource)} "${name}" not found`, details(resource, name)),
  alreadyExists: (resource: Resource, name: string): StoreError =>
    new StoreError(
      409,
      'AlreadyExists',
      `${qualified(resource)} "${name}" already exists`,
      details(resource, name),
    ),
  conflict: (resource: Resource, name: string, why = OPTIMISTIC_LOCK): StoreError =>
    new StoreError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(resource)} "${name}": ${why}`,
      details(resource, name),
    ),
};

function details(resource: Resource, name: string): StatusDetails {
  return GROUPS[resource] ? { name, group: GROUPS[resource], kind: resource } : { name, kind: resource };
}

/** JSON with sorted keys, so two objects that differ only in key order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * The fake's etcd: objects per resource, one global resourceVersion counter, an event history that can be
 * compacted (so old resourceVersions answer 410) and subscribers for watches.
 */
export class ObjectStore {
  /** Starts high and opaque-looking, as real clusters do; clients must compare for equality only. */
  rv = 1000 + Math.floor(Math.random() * 1000);
  compactedRv = this.rv;
  private readonly objects = new Map<Resource, Map<string, KObject>>();
  private history: StoredEvent[] = [];
  private readonly subscribers = new Set<(event: StoredEvent) => void>();

  private table(resource: Resource): Map<string, KObject> {
    let table = this.objects.get(resource);
    if (!table) this.objects.set(resource, (table = new Map()));
    return table;
  }

  private readonly queue: StoredEvent[] = [];
  private delivering = false;

  /**
   * Subscribers (controllers) write while being notified; queueing keeps every subscriber, watches included,
   * seeing events in resourceVersion order.
   */
  private emit(resource: Resource, type: EventType, object: KObject): void {
    const event: StoredEvent = { rv: this.rv, resource, type, object: clone(object) };
    this.history.push(event);
    if (this.history.length > 20_000) this.history.splice(0, 10_000);
    this.queue.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        for (const subscriber of [...this.subscribers]) subscriber(next);
      }
    } finally {
      this.delivering = false;
    }
  }

  get(resource: Resource, namespace: string, name: string): KObject | undefined {
    const found = this.table(resource).get(`${namespace}/${name}`);
    return found ? clone(found) : undefined;
  }

  list(resource: Resource, namespace: string): KObject[] {
    return [...this.table(resource).values()].filter((o) => o.metadata.namespace === namespace).map(clone);
  }

  /** Every object of a resource, in every namespace (cluster-wide lists of custom resources). */
  listAll(resource: Resource): KObject[] {
    return [...this.table(resource).values()].map(clone);
  }

  create(resource: Resource, namespace: string, input: KObject): KObject {
    const object = clone(input);
    object.metadata.namespace = namespace;
    if (!object.metadata.name && object.metadata.generateName) {
      object.metadata.name = object.metadata.generateName + Math.random().toString(36).slice(2, 7);
    }
    const key = `${namespace}/${object.metadata.name}`;
    if (this.table(resource).has(key)) throw objectErrors.alreadyExists(resource, object.metadata.name);
    this.rv += 1;
    object.metadata.uid = randomUUID();
    object.metadata.resourceVersion = String(this.rv);
    object.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.table(resource).set(key, object);
    this.emit(resource, 'ADDED', object);
    return clone(object);
  }

  /** Applies `mutate` to a copy and stores it with a new resourceVersion; undefined when gone. */
  update(
    resource: Resource,
    namespace: string,
    name: string,
    mutate: (o: KObject) => void,
  ): KObject | undefined {
    const key = `${namespace}/${name}`;
    const current = this.table(resource).get(key);
    if (!current) return undefined;
    const next = clone(current);
    mutate(next);
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      return this.remove(resource, namespace, name, next);
    }
    this.rv += 1;
    next.metadata.resourceVersion = String(this.rv);
    this.table(resource).set(key, next);
    this.emit(resource, 'MODIFIED', next);
    return clone(next);
  }

  /**
   * PUT: replaces the whole object as the API server's generic registry does. The resourceVersion sent
   * must equal the stored one (409 Conflict otherwise); none sent is 422 unless the strategy allows
   * unconditional updates; a uid sent is a precondition too (409). A missing object is created when the
   * strategy allows create-on-update (a uid sent then fails its precondition: 409), else 404. An update
   * that changes nothing keeps the resourceVersion: the server does not write etcd for a no-op.
   */
  replace(
    resource: Resource,
    namespace: string,
    input: KObject,
    strategy: UpdateStrategy,
  ): { object: KObject; created: boolean } {
    const name = input.metadata.name;
    const current = this.table(resource).get(`${namespace}/${name}`);
    const sentRv = input.metadata.resourceVersion ?? '';
    const sentUid = input.metadata.uid ?? '';
    if (!current) {
      if (!strategy.allowCreateOnUpdate) throw objectErrors.notFound(resource, name);
      if (sentUid) {
        throw objectErrors.conflict(
          resource,
          name,
          `Precondition failed: UID in precondition: ${sentUid}, UID in object meta: `,
        );
      }
      const { resourceVersion: _ignored, ...metadata } = input.metadata;
      return { object: this.create(resource, namespace, { ...input, metadata }), created: true };
    }
    if (sentRv === '' && !strategy.allowUnconditionalUpdate) {
      throw new StoreError(
        422,
        'Invalid',
        `${qualified(resource)} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
        details(resource, name),
      );
    }
    if (sentRv !== '' && sentRv !== current.metadata.resourceVersion)
      throw objectErrors.conflict(resource, name);
    if (sentUid && sentUid !== current.metadata.uid) {
      throw objectErrors.conflict(
        resource,
        name,
        `Precondition failed: UID in precondition: ${sentUid}, UID in object meta: ${current.metadata.uid ?? ''}`,
      );
    }
    const next = clone(input);
    next.metadata = {
      ...next.metadata,
      namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      resourceVersion: current.metadata.resourceVersion,
    };
    if (current.metadata.deletionTimestamp)
      next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    else delete next.metadata.deletionTimestamp;
    if (canonical(next) === canonical(current)) return { object: clone(current), created: false };
    const stored = this.update(resource, namespace, name, (o) => {
      for (const key of Object.keys(o)) delete o[key];
      Object.assign(o, clone(next));
    });
    return { object: stored ?? clone(next), created: false };
  }

  /** Deletes, or marks for deletion while finalizers remain. */
  delete(resource: Resource, namespace: string, name: string): KObject | undefined {
    const current = this.table(resource).get(`${namespace}/${name}`);
    if (!current) return undefined;
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (current.metadata.deletionTimestamp) return clone(current);
      return this.update(resource, namespace, name, (o) => {
        o.metadata.deletionTimestamp = new Date().toISOString();
      });
    }
    return this.remove(resource, namespace, name, current);
  }

  private remove(resource: Resource, namespace: string, name: string, last: KObject): KObject {
    this.table(resource).delete(`${namespace}/${name}`);
    this.rv += 1;
    const gone = clone(last);
    gone.metadata.resourceVersion = String(this.rv);
    this.emit(resource, 'DELETED', gone);
    return gone;
  }

  /** Events after `rv`, or null when that part of the history was compacted away. */
  since(rv: number): StoredEvent[] | null {
    if (rv < this.compactedRv) return null;
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forgets the history: every resourceVersion before now answers 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  subscribe(listener: (event: StoredEvent) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }
}
