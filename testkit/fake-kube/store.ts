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

export type Resource = 'pods' | 'jobs' | 'configmaps' | 'networkpolicies' | 'resourcequotas';
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
  ) {
    super(message);
  }
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

  create(resource: Resource, namespace: string, input: KObject): KObject {
    const object = clone(input);
    object.metadata.namespace = namespace;
    if (!object.metadata.name && object.metadata.generateName) {
      object.metadata.name = object.metadata.generateName + Math.random().toString(36).slice(2, 7);
    }
    const key = `${namespace}/${object.metadata.name}`;
    if (this.table(resource).has(key)) {
      throw new StoreError(409, 'AlreadyExists', `${resource} "${object.metadata.name}" already exists`);
    }
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
