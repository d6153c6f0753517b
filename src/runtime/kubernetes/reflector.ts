import type { Readable } from 'node:stream';
import { jitteredBackoff, pause } from './backoff.js';
import { KubeError, toKubeError, type ListQuery, type ObjectList, type WatchQuery } from './kube-client.js';

/** The part of any Kubernetes object a reflector needs. */
export interface KubeObject {
  metadata?: { uid?: string; resourceVersion?: string; name?: string };
}

export interface ReflectorSource<T> {
  /** `signal` is the reflector's own: it aborts on `stop`. */
  list(query: ListQuery, signal: AbortSignal): Promise<ObjectList<T> & { continueToken?: string }>;
  watch(query: WatchQuery, signal: AbortSignal): Promise<Readable>;
}

export interface ReflectorHandler<T> {
  upsert(object: T): void;
  /** Called with the last known state; after a relist, for objects deleted during the gap too. */
  remove(object: T): void;
  /** Each change that arrived on the watch (not from a list), after upsert/remove: for the event-lag metric. */
  watched?(object: T): void;
}

export interface ReflectorTuning {
  readonly watchTimeoutSecondsMin: number;
  readonly watchTimeoutSecondsMax: number;
  readonly watchIdleTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly backoffResetMs: number;
}

export interface ReflectorStats {
  lists: number;
  watches: number;
  events: number;
  bookmarks: number;
  expired: number;
  errors: number;
}

interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T & { code?: number; reason?: string; message?: string };
}

/**
 * List-then-watch of one kind, as client-go's reflector does it, because the client library's informer stops
 * for good on most errors. Keeps a cache keyed by uid; tracks the resourceVersion of the last event or
 * bookmark; relists on 410 (HTTP status or ERROR event); keeps its resourceVersion and backs off with jitter
 * on refused connections, 429 (honouring Retry-After) and 5xx; restarts a watch that went silent (half-open
 * socket). `start` and `stop` are idempotent.
 */
export class Reflector<T extends KubeObject> {
  readonly stats: ReflectorStats = { lists: 0, watches: 0, events: 0, bookmarks: 0, expired: 0, errors: 0 };
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private controller: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private synced: Promise<void>;
  private markSynced: () => void = () => undefined;
  private failures = 0;

  constructor(
    private readonly name: string,
    private readonly source: ReflectorSource<T>,
    private readonly labelSelector: string,
    private readonly handler: ReflectorHandler<T>,
    private readonly tuning: ReflectorTuning,
    private readonly warn: (message: string) => void,
  ) {
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  /** Starts the loop (once) and resolves when the first list has been delivered. */
  start(): Promise<void> {
    if (!this.controller) {
      this.controller = new AbortController();
      this.loop = this.run(this.controller.signal);
    }
    return this.synced;
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    this.controller = null;
    this.loop = null;
  }

  objects(): T[] {
    return [...this.cache.values()];
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      const began = Date.now();
      try {
        if (needList) {
          await this.relist(signal);
          needList = false;
        }
        needList = await this.watchOnce(signal);
        if (Date.now() - began >= this.tuning.backoffResetMs) this.failures = 0;
        if (needList) this.stats.expired += 1;
      } catch (caught) {
        if (signal.aborted) break;
        const error = toKubeError(caught);
        this.stats.errors += 1;
        if (error.code === 410) {
          this.stats.expired += 1;
          needList = true;
          continue;
        }
        if (Date.now() - began >= this.tuning.backoffResetMs) this.failures = 0;
        const delay = error.retryAfterMs ?? this.backoff();
        this.warn(`${this.name} watch: ${error.message}; retrying in ${Math.round(delay)} ms`);
        await pause(delay, signal);
      }
    }
  }

  private backoff(): number {
    const delay = jitteredBackoff(this.failures, this.tuning.backoffInitialMs, this.tuning.backoffMaxMs);
    this.failures += 1;
    return delay;
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const seen = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.source.list(
        { labelSelector: this.labelSelector, limit: 500, continueToken },
        signal,
      );
      this.stats.lists += 1;
      for (const item of page.items) {
        const uid = item.metadata?.uid;
        if (uid) seen.set(uid, item);
      }
      continueToken = page.continueToken || undefined;
      resourceVersion = page.resourceVersion;
    } while (continueToken);
    for (const [uid, old] of this.cache) {
      if (!seen.has(uid)) {
        this.cache.delete(uid);
        this.handler.remove(old);
      }
    }
    for (const [uid, item] of seen) {
      const old = this.cache.get(uid);
      this.cache.set(uid, item);
      if (old?.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.handler.upsert(item);
    }
    this.resourceVersion = resourceVersion;
    this.markSynced();
  }

  /** One watch request. Returns true when the history expired and a relist is needed. */
  private async watchOnce(signal: AbortSignal): Promise<boolean> {
    const local = new AbortController();
    const abort = (): void => local.abort();
    signal.addEventListener('abort', abort);
    let idle: NodeJS.Timeout | undefined;
    const resetIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => local.abort(), this.tuning.watchIdleTimeoutMs);
    };
    const span = this.tuning.watchTimeoutSecondsMax - this.tuning.watchTimeoutSecondsMin;
    const timeoutSeconds = this.tuning.watchTimeoutSecondsMin + Math.floor(Math.random() * (span + 1));
    try {
      resetIdle();
      const body = await this.source.watch(
        { labelSelector: this.labelSelector, resourceVersion: this.resourceVersion, timeoutSeconds },
        local.signal,
      );
      this.stats.watches += 1;
      let pending = '';
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          resetIdle();
          pending += chunk.toString('utf8');
          let newline = pending.indexOf('\n');
          while (newline >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line && this.apply(JSON.parse(line) as WatchEvent<T>)) {
              body.destroy();
              return true;
            }
            newline = pending.indexOf('\n');
          }
        }
      } catch (error) {
        // A reset or idle-aborted stream: reconnect from the last resourceVersion, as after a normal end.
        if (signal.aborted) return false;
        if (!local.signal.aborted) throw toKubeError(error);
        this.warn(`${this.name} watch silent for ${this.tuning.watchIdleTimeoutMs} ms; reconnecting`);
      }
      return false;
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', abort);
      local.abort();
    }
  }

  /** Applies one watch event; true when it says the resourceVersion expired. */
  private apply(event: WatchEvent<T>): boolean {
    const object = event.object;
    switch (event.type) {
      case 'ERROR':
        if (object.code === 410 || object.reason === 'Expired' || object.reason === 'Gone') return true;
        throw new KubeError(
          `${this.name} watch error: ${object.message ?? object.reason ?? 'unknown'}`,
          object.code ?? 500,
        );
      case 'BOOKMARK':
        this.stats.bookmarks += 1;
        this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
        return false;
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        this.stats.events += 1;
        this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
        const uid = object.metadata?.uid;
        if (!uid) return false;
        if (event.type === 'DELETED') {
          this.cache.delete(uid);
          this.handler.remove(object);
        } else {
          this.cache.set(uid, object);
          this.handler.upsert(object);
        }
        this.handler.watched?.(object);
        return false;
      }
    }
  }
}
