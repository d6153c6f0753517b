import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CustomResources } from './custom-resources.js';
import { ExecEndpoint, type ExecTarget } from './exec.js';
import { admitPod } from './namespaces.js';
import { matchesFields, matchesLabels } from './selectors.js';
import { decode, UPDATABLE } from './leases.js';
import {
  objectErrors,
  StoreError,
  type KObject,
  type ObjectStore,
  type Resource,
  type StatusDetails,
  type StoredEvent,
} from './store.js';

/** What the kubelet part of the fake serves for `GET …/pods/{name}/log`. */
export interface LogSource {
  /** Throws StoreError(400/404/204-like) when the log cannot be read yet or any more. */
  open(
    namespace: string,
    pod: string,
    container: string,
    options: { follow: boolean; timestamps: boolean; sinceTime: string | null },
    write: (chunk: string | Buffer) => void,
    end: () => void,
  ): () => void;
}

export interface Admission {
  /** Throws StoreError(422) when the object would be rejected. */
  validate(resource: Resource, object: KObject): void;
  /** Called after a delete request succeeded, with its propagation policy (cascade is the cluster's job). */
  deleted(resource: Resource, object: KObject, propagationPolicy: string | null): void;
}

/** Fault switches of the HTTP layer. */
export interface ServerFaults {
  /** Next N list requests answer this status. */
  failLists: { count: number; status: number };
  /** Next N requests of any kind answer 429 with this Retry-After. */
  throttle: { count: number; retryAfterSeconds: number };
  /** Next N creates (POST) are carried out, then the connection is reset before the answer: a lost reply. */
  lostCreateReplies: number;
  /** Expired resourceVersions answer HTTP 410 instead of a 200 stream with an ERROR event. */
  expiredAsHttp: boolean;
  /** Bookmark interval of watches that ask for them (real servers: about a minute). */
  bookmarkIntervalMs: number;
  /** How watch events map to HTTP chunks: one each, each split in two, or several merged into one. */
  watchChunking: 'normal' | 'split' | 'merge';
  /** Requests are accepted and never answered (a hung API server or half-open path) while true. */
  stalled: boolean;
  /** While set, requests wait for it before they are handled: lets a test line up racing requests. */
  gate: Promise<void> | null;
}

interface OpenWatch {
  readonly res: ServerResponse;
  blackholed: boolean;
  close(): void;
}

/** `allNamespaces`: a cluster-wide list or watch of a namespaced resource (`/api/v1/pods`). */
const ROUTES: { pattern: RegExp; resource: Resource; allNamespaces?: true }[] = [
  { pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?(\/log)?$/, resource: 'pods' },
  { pattern: /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?()$/, resource: 'configmaps' },
  { pattern: /^\/api\/v1\/namespaces\/([^/]+)\/resourcequotas(?:\/([^/]+))?()$/, resource: 'resourcequotas' },
  { pattern: /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?()$/, resource: 'jobs' },
  {
    pattern: /^\/apis\/networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/networkpolicies(?:\/([^/]+))?()$/,
    resource: 'networkpolicies',
  },
  {
    pattern: /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?()$/,
    resource: 'leases',
  },
  { pattern: /^\/api\/v1\/namespaces\/([^/]+)\/limitranges(?:\/([^/]+))?()$/, resource: 'limitranges' },
  { pattern: /^\/api\/v1\/namespaces()(?:\/([^/]+))?()$/, resource: 'namespaces' },
  { pattern: /^\/api\/v1\/pods()()()$/, resource: 'pods', allNamespaces: true },
  { pattern: /^\/apis\/batch\/v1\/jobs()()()$/, resource: 'jobs', allNamespaces: true },
];

const KINDS: Record<Resource, { kind: string; apiVersion: string }> = {
  pods: { kind: 'Pod', apiVersion: 'v1' },
  configmaps: { kind: 'ConfigMap', apiVersion: 'v1' },
  jobs: { kind: 'Job', apiVersion: 'batch/v1' },
  networkpolicies: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1' },
  resourcequotas: { kind: 'ResourceQuota', apiVersion: 'v1' },
  leases: { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1' },
  namespaces: { kind: 'Namespace', apiVersion: 'v1' },
  limitranges: { kind: 'LimitRange', apiVersion: 'v1' },
};

function status(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
  details?: StatusDetails,
): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(code, { 'content-type': 'application/json', ...headers });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    }),
  );
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The HTTP face of the fake API server: real HTTP/1.1, JSON, chunked watch streams (one `{"type","object"}`
 * line per event, flushed), lists with limit/continue, Status bodies, and the fault switches.
 */
export class FakeApiServer {
  readonly faults: ServerFaults = {
    failLists: { count: 0, status: 500 },
    throttle: { count: 0, retryAfterSeconds: 1 },
    lostCreateReplies: 0,
    expiredAsHttp: false,
    bookmarkIntervalMs: 1000,
    watchChunking: 'normal',
    stalled: false,
    gate: null,
  };
  readonly requests = {
    lists: 0,
    watches: 0,
    logs: 0,
    throttled: 0,
    total: 0,
    connections: 0,
    /** Requests that waited at `faults.gate`. */
    gated: 0,
    /** Answers 409 (AlreadyExists or Conflict): races lost to optimistic concurrency. */
    conflicts: 0,
  };
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<OpenWatch>();
  port = 0;
  #customResources: CustomResources | undefined;

  /** CRDs and their custom resources, served generically. */
  get customResources(): CustomResources {
    return (this.#customResources ??= new CustomResources(this.store));
  }

  /** `pods/{name}/exec` over WebSocket (exec.ts); answers 404 on a server without a kubelet. */
  readonly exec: ExecEndpoint;

  constructor(
    readonly store: ObjectStore,
    private readonly logs: LogSource,
    private readonly admission: Admission,
    execTarget: ExecTarget | null = null,
  ) {
    this.exec = new ExecEndpoint(execTarget);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Client connections open now (keep-alive included): a client that closed its pool has none. */
  get openConnections(): number {
    return this.sockets.size;
  }

  async listen(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => status(res, 500, 'InternalError', String(error)));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.requests.total += 1;
      if (this.faults.stalled) return;
      const url = new URL(req.url ?? '/', 'http://fake');
      this.exec.upgrade(req, socket, head, url).catch(() => socket.destroy());
    });
    server.on('connection', (socket) => {
      this.requests.connections += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    this.server = server;
  }

  /** Stops listening and resets every open connection (connections are refused until `listen` again). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.exec.dropAll();
    for (const watch of this.watches) watch.close();
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resets every open watch connection. */
  dropWatches(): void {
    for (const watch of [...this.watches]) {
      watch.res.socket?.destroy();
      watch.close();
    }
  }

  /** Keeps the sockets of open watches but never writes to them again: a half-open connection. */
  halfOpenWatches(): void {
    for (const watch of this.watches) watch.blackholed = true;
  }

  /** Sends `ERROR 410 Expired` on every open watch and forgets the history. */
  expireWatches(): void {
    this.store.compact();
    for (const watch of [...this.watches]) {
      if (watch.blackholed) continue;
      watch.res.write(JSON.stringify({ type: 'ERROR', object: this.expiredStatus(0) }) + '\n');
      watch.close();
    }
  }

  private expiredStatus(rv: number): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `too old resource version: ${rv} (${this.store.compactedRv})`,
      reason: 'Expired',
      code: 410,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests.total += 1;
    // Held until the socket is closed: by the client giving up, or by `stop()`.
    if (this.faults.stalled) return;
    if (this.faults.gate) {
      this.requests.gated += 1;
      await this.faults.gate;
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    if (this.faults.throttle.count > 0) {
      this.faults.throttle.count -= 1;
      this.requests.throttled += 1;
      const retry = String(this.faults.throttle.retryAfterSeconds);
      return status(res, 429, 'TooManyRequests', 'the server is restarting, try again', {
        'retry-after': retry,
      });
    }
    // CustomResourceDefinitions, the custom resources they define, and discovery (custom-resources.ts).
    if (await this.customResources.handle(req, res, url)) return;
    const route = ROUTES.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).find((x) => x.m);
    if (!route?.m) return status(res, 404, 'NotFound', `no route for ${url.pathname}`);
    const resource = route.r.resource;
    const namespace = decodeURIComponent(route.m[1] ?? '');
    // Cluster-wide lists and watches read every namespace; nothing else is served on those paths.
    const scope = route.r.allNamespaces ? null : namespace;
    if (scope === null && req.method !== 'GET') {
      return status(res, 405, 'MethodNotAllowed', `${req.method} not supported on ${url.pathname}`);
    }
    const name = route.m[2] ? decodeURIComponent(route.m[2]) : null;
    const q = url.searchParams;
    try {
      if (route.m[3] && name) return this.log(namespace, name, q, req, res);
      switch (req.method) {
        case 'GET':
          if (name) {
            const found = this.store.get(resource, namespace, name);
            if (!found) throw objectErrors.notFound(resource, name);
            return json(res, 200, found);
          }
          if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(resource, scope, q, res);
          return this.list(resource, scope, q, res);
        case 'POST': {
          const object = decode(resource, JSON.parse(await readBody(req)) as KObject);
          this.admission.validate(resource, object);
          if (resource === 'pods') admitPod(this.store, namespace, object);
          const created = this.store.create(resource, namespace, { ...KINDS[resource], ...object });
          if (this.faults.lostCreateReplies > 0) {
            this.faults.lostCreateReplies -= 1;
            return void res.socket?.destroy();
          }
          return json(res, 201, created);
        }
        case 'PUT':
          return await this.replace(resource, namespace, name, req, res);
        case 'DELETE': {
          const raw = await readBody(req);
          const body = raw ? (JSON.parse(raw) as { propagationPolicy?: string }) : {};
          const policy = q.get('propagationPolicy') ?? body.propagationPolicy ?? null;
          const targets = name
            ? [this.store.get(resource, namespace, name)]
            : this.store.list(resource, namespace).filter((o) => matchesLabels(q.get('labelSelector'), o));
          if (name && !targets[0]) throw objectErrors.notFound(resource, name);
          for (const target of targets) {
            if (!target) continue;
            const gone = this.store.delete(resource, namespace, target.metadata.name);
            if (gone) this.admission.deleted(resource, gone, policy);
          }
          return json(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
        }
        default:
          return status(res, 405, 'MethodNotAllowed', `${req.method} not supported`);
      }
    } catch (error) {
      if (error instanceof StoreError) {
        if (error.code === 409) this.requests.conflicts += 1;
        return status(res, error.code, error.reason, error.message, {}, error.details);
      }
      throw error;
    }
  }

  /** PUT of a whole object: optimistic concurrency on `metadata.resourceVersion` (see `ObjectStore.replace`). */
  private async replace(
    resource: Resource,
    namespace: string,
    name: string | null,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const strategy = UPDATABLE[resource];
    if (!strategy || !name) return status(res, 405, 'MethodNotAllowed', `PUT not supported on ${resource}`);
    const object = decode(resource, JSON.parse(await readBody(req)) as KObject);
    if (object.metadata?.name !== name) {
      return status(
        res,
        400,
        'BadRequest',
        `the name of the object (${object.metadata?.name ?? ''}) does not match the name on the URL (${name})`,
      );
    }
    if (object.metadata.namespace && object.metadata.namespace !== namespace) {
      return status(
        res,
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    this.admission.validate(resource, object);
    const { object: stored, created } = this.store.replace(
      resource,
      namespace,
      { ...KINDS[resource], ...object },
      strategy,
    );
    json(res, created ? 201 : 200, stored);
  }

  private list(resource: Resource, namespace: string | null, q: URLSearchParams, res: ServerResponse): void {
    this.requests.lists += 1;
    if (this.faults.failLists.count > 0) {
      this.faults.failLists.count -= 1;
      return status(res, this.faults.failLists.status, 'InternalError', 'etcdserver: request timed out');
    }
    const all = (namespace === null ? this.store.listAll(resource) : this.store.list(resource, namespace))
      .filter((o) => matchesLabels(q.get('labelSelector'), o) && matchesFields(q.get('fieldSelector'), o))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const token = q.get('continue');
    let offset = 0;
    let listRv = this.store.rv;
    if (token) {
      const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
        rv: number;
        offset: number;
      };
      if (decoded.rv < this.store.compactedRv) return status(res, 410, 'Expired', 'continue token expired');
      [offset, listRv] = [decoded.offset, decoded.rv];
    }
    const limit = Number(q.get('limit') ?? 0);
    const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const next = limit > 0 && offset + limit < all.length ? offset + limit : null;
    const metadata: Record<string, string> = { resourceVersion: String(listRv) };
    if (next !== null)
      metadata['continue'] = Buffer.from(JSON.stringify({ rv: listRv, offset: next })).toString('base64');
    json(res, 200, {
      kind: `${KINDS[resource].kind}List`,
      apiVersion: KINDS[resource].apiVersion,
      metadata,
      items,
    });
  }

  private watch(resource: Resource, namespace: string | null, q: URLSearchParams, res: ServerResponse): void {
    this.requests.watches += 1;
    const selector = q.get('labelSelector');
    const fields = q.get('fieldSelector');
    const rvParam = q.get('resourceVersion') ?? '';
    const matches = (e: StoredEvent): boolean =>
      e.resource === resource &&
      (namespace === null || e.object.metadata.namespace === namespace) &&
      matchesLabels(selector, e.object) &&
      matchesFields(fields, e.object);
    let replay: StoredEvent[];
    if (rvParam === '' || rvParam === '0') {
      replay = (namespace === null ? this.store.listAll(resource) : this.store.list(resource, namespace))
        .map((object) => ({ rv: this.store.rv, resource, type: 'ADDED' as const, object }))
        .filter(matches);
    } else {
      const history = this.store.since(Number(rvParam));
      if (history === null) {
        if (this.faults.expiredAsHttp)
          return status(res, 410, 'Expired', `too old resource version: ${rvParam}`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'ERROR', object: this.expiredStatus(Number(rvParam)) }) + '\n');
        return;
      }
      replay = history.filter(matches);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    let merged = '';
    const send = (type: string, object: unknown): void => {
      if (watch.blackholed || res.writableEnded) return;
      const line = JSON.stringify({ type, object }) + '\n';
      switch (this.faults.watchChunking) {
        case 'normal':
          res.write(line);
          return;
        case 'split': {
          const cut = Math.floor(line.length / 2);
          res.write(line.slice(0, cut));
          res.write(line.slice(cut));
          return;
        }
        case 'merge':
          if (!merged) {
            setTimeout(() => {
              if (!res.writableEnded && !watch.blackholed) res.write(merged);
              merged = '';
            }, 5);
          }
          merged += line;
          return;
      }
    };
    let unsubscribe: () => void = () => undefined;
    const timers: NodeJS.Timeout[] = [];
    const watch: OpenWatch = {
      res,
      blackholed: false,
      close: () => {
        unsubscribe();
        timers.forEach(clearTimeout);
        this.watches.delete(watch);
        if (!res.writableEnded) res.end();
      },
    };
    this.watches.add(watch);
    for (const event of replay) send(event.type, event.object);
    unsubscribe = this.store.subscribe((event) => {
      if (matches(event)) send(event.type, event.object);
    });
    if (q.get('allowWatchBookmarks') === 'true') {
      const bookmark = (): void => {
        send('BOOKMARK', { ...KINDS[resource], metadata: { resourceVersion: String(this.store.rv) } });
        timers[0] = setTimeout(bookmark, this.faults.bookmarkIntervalMs);
      };
      timers[0] = setTimeout(bookmark, this.faults.bookmarkIntervalMs);
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers[1] = setTimeout(() => watch.close(), timeout * 1000);
    res.on('close', () => watch.close());
  }

  private log(
    namespace: string,
    pod: string,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    this.requests.logs += 1;
    const options = {
      follow: q.get('follow') === 'true',
      timestamps: q.get('timestamps') === 'true',
      sinceTime: q.get('sinceTime'),
    };
    let started = false;
    const cancel = this.logs.open(
      namespace,
      pod,
      q.get('container') ?? '',
      options,
      (chunk) => {
        if (!started) {
          started = true;
          res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
        }
        res.write(chunk);
      },
      () => {
        if (!started) res.writeHead(200, { 'content-type': 'text/plain' });
        res.end();
      },
    );
    req.on('close', cancel);
  }
}
