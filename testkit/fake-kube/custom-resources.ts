import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRules } from './crd-schema.js';
import { CustomResourceType, type Crd } from './custom-resource-type.js';
import { discovery, openApi } from './discovery.js';
import { matchesFields, matchesLabels } from './selectors.js';
import { StoreError, type KObject, type ObjectStore, type Resource, type StoredEvent } from './store.js';
import { table, wantsTable } from './table.js';

/**
 * Custom resources, served generically as the API server's apiextensions part does: POST a
 * `CustomResourceDefinition` and its group/version/plural answer list, watch, get, create, update (PUT and
 * JSON merge PATCH) and delete, with the `/status` subresource (see `CustomResourceType`), finalizers,
 * Table output with the CRD's printer columns (what `kubectl get` asks for), and the discovery and OpenAPI
 * documents kubectl reads first.
 */

const CRD_RESOURCE = 'customresourcedefinitions' as Resource;
const CRD_PATH = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions(?:\/([^/]+))?$/;
const CR_PATH = /^\/apis\/([^/]+)\/([^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+))?(?:\/(status))?$/;
const CRD_KIND = 'customresourcedefinitions.apiextensions.k8s.io';

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readObject(req: IncomingMessage): Promise<KObject> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return (text ? JSON.parse(text) : {}) as KObject;
  } catch {
    throw new StoreError(400, 'BadRequest', 'the body of the request was in an unknown format');
  }
}

/** RFC 7386 JSON merge patch (what `kubectl apply` sends for custom resources). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** `?fieldValidation=Strict` (kubectl's default): unknown fields are refused instead of pruned. */
const strict = (q: URLSearchParams): boolean => q.get('fieldValidation') === 'Strict';

interface Target {
  readonly type: CustomResourceType;
  /** null: every namespace (list and watch only). */
  readonly namespace: string | null;
  readonly name: string | null;
  readonly status: boolean;
}

export class CustomResources {
  readonly requests = { statusWrites: 0, conflicts: 0, lists: 0, expired: 0 };
  /** The next N writes to `/status` answer 409 Conflict although their resourceVersion is current. */
  failStatusWrites = 0;
  private readonly watches = new Set<() => void>();

  constructor(private readonly store: ObjectStore) {}

  /** Handles the request if it is about CRDs, custom resources or discovery; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    try {
      const crds = this.definitions();
      const document = discovery(url.pathname, crds) ?? openApi(url.pathname, crds);
      if (document) return (send(res, 200, document), true);
      const definition = CRD_PATH.exec(url.pathname);
      if (definition) return (await this.definitionRequest(req, res, definition[1] ?? null), true);
      const target = this.target(url.pathname);
      if (!target) return false;
      await this.resourceRequest(req, res, url.searchParams, target);
      return true;
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      if (error.code === 409) this.requests.conflicts += 1;
      send(res, error.code, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: error.message,
        reason: error.reason,
        ...(error.details ? { details: error.details } : {}),
        code: error.code,
      });
      return true;
    }
  }

  /** Closes every open watch of custom resources. */
  closeWatches(): void {
    for (const close of [...this.watches]) close();
  }

  definitions(): Crd[] {
    return this.store.list(CRD_RESOURCE, '') as Crd[];
  }

  private target(path: string): Target | null {
    const m = CR_PATH.exec(path);
    if (!m) return null;
    const [, group, version, namespace, plural, name, sub] = m;
    const crd = this.definitions().find((d) => d.spec.group === group && d.spec.names.plural === plural);
    const served = crd?.spec.versions.find((v) => v.name === version && v.served);
    if (!crd || !served) return null;
    return {
      type: new CustomResourceType(crd, served),
      namespace: namespace ? decodeURIComponent(namespace) : null,
      name: name ? decodeURIComponent(name) : null,
      status: sub === 'status',
    };
  }

  private async definitionRequest(req: IncomingMessage, res: ServerResponse, name: string | null) {
    const notFound = (n: string) => new StoreError(404, 'NotFound', `${CRD_KIND} "${n}" not found`);
    if (req.method === 'GET' && !name) {
      const metadata = { resourceVersion: String(this.store.rv) };
      const list = { kind: 'CustomResourceDefinitionList', apiVersion: 'apiextensions.k8s.io/v1', metadata };
      return send(res, 200, { ...list, items: this.definitions() });
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      const found =
        req.method === 'GET'
          ? this.store.get(CRD_RESOURCE, '', name!)
          : this.store.delete(CRD_RESOURCE, '', name!);
      if (!found) throw notFound(name!);
      return send(res, 200, found);
    }
    if (req.method !== 'POST') throw new StoreError(405, 'MethodNotAllowed', `${req.method} not supported`);
    send(res, 201, this.createDefinition((await readObject(req)) as Crd));
  }

  private createDefinition(crd: Crd): KObject {
    const expected = `${crd.spec?.names?.plural}.${crd.spec?.group}`;
    const invalid = (detail: string) =>
      new StoreError(
        422,
        'Invalid',
        `CustomResourceDefinition.apiextensions.k8s.io "${expected}" is invalid: ${detail}`,
      );
    if (crd.metadata?.name !== expected) {
      throw invalid(
        `metadata.name: Invalid value: "${crd.metadata?.name}": must be spec.names.plural+"."+spec.group`,
      );
    }
    for (const version of crd.spec.versions) {
      try {
        checkRules(version.schema?.openAPIV3Schema ?? {});
      } catch (error) {
        throw invalid(`spec.validation.openAPIV3Schema${(error as Error).message}`);
      }
    }
    if (this.store.get(CRD_RESOURCE, '', expected)) {
      throw new StoreError(409, 'AlreadyExists', `${CRD_KIND} "${expected}" already exists`);
    }
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return this.store.create(CRD_RESOURCE, '', {
      ...crd,
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      status: {
        acceptedNames: {
          ...crd.spec.names,
          listKind: crd.spec.names.listKind ?? `${crd.spec.names.kind}List`,
        },
        storedVersions: crd.spec.versions.filter((v) => v.storage).map((v) => v.name),
        conditions: [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', lastTransitionTime: now },
          { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', lastTransitionTime: now },
        ],
      },
    });
  }

  private async resourceRequest(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    target: Target,
  ) {
    const { type, namespace, name } = target;
    if (req.method === 'GET' && !name) {
      if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(type.key, namespace, q, res);
      return this.list(req, res, q, type, namespace);
    }
    if (namespace === null && type.namespaced) {
      throw new StoreError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const ns = namespace ?? '';
    if (req.method === 'POST' && !name) {
      const object = type.forCreate(await readObject(req), ns, strict(q));
      if (object.metadata.name && this.store.get(type.key, ns, object.metadata.name)) {
        throw type.alreadyExists(object.metadata.name);
      }
      return send(res, 201, this.store.create(type.key, ns, object));
    }
    if (!name) throw new StoreError(405, 'MethodNotAllowed', `${req.method} not supported`);
    const current = this.store.get(type.key, ns, name);
    if (!current) throw type.notFound(name);
    switch (req.method) {
      case 'GET':
        return send(
          res,
          200,
          wantsTable(req) ? table(type.columns, [current], current.metadata.resourceVersion ?? '') : current,
        );
      case 'DELETE':
        await readObject(req);
        return send(res, 200, this.store.delete(type.key, ns, name));
      case 'PUT':
      case 'PATCH':
        return send(res, 200, await this.update(req, target, current, strict(q)));
      default:
        throw new StoreError(405, 'MethodNotAllowed', `${req.method} not supported`);
    }
  }

  private list(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: CustomResourceType,
    namespace: string | null,
  ) {
    this.requests.lists += 1;
    const items = (namespace === null ? this.store.listAll(type.key) : this.store.list(type.key, namespace))
      .filter((o) => matchesLabels(q.get('labelSelector'), o) && matchesFields(q.get('fieldSelector'), o))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const resourceVersion = String(this.store.rv);
    if (wantsTable(req)) return send(res, 200, table(type.columns, items, resourceVersion));
    send(res, 200, {
      kind: type.listKind,
      apiVersion: type.apiVersion,
      metadata: { resourceVersion },
      items,
    });
  }

  /** PUT (optimistic concurrency on `metadata.resourceVersion`) or JSON merge PATCH, of the object or its status. */
  private async update(
    req: IncomingMessage,
    target: Target,
    current: KObject,
    strictFields: boolean,
  ): Promise<KObject | undefined> {
    const { type, name, status } = target;
    const sent = await readObject(req);
    let next: KObject;
    if (req.method === 'PATCH') {
      if (!(req.headers['content-type'] ?? '').includes('merge-patch')) {
        throw new StoreError(
          415,
          'UnsupportedMediaType',
          'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
        );
      }
      next = mergePatch(current, sent) as KObject;
    } else {
      next = sent;
      const sentRv = sent.metadata?.resourceVersion ?? '';
      if (sentRv === '') {
        throw type.invalid(
          name!,
          'metadata.resourceVersion',
          'Invalid value: 0x0: must be specified for an update',
        );
      }
      const injected = status && this.failStatusWrites > 0;
      if (injected) this.failStatusWrites -= 1;
      if (injected || sentRv !== current.metadata.resourceVersion) throw type.conflict(name!);
    }
    if (status) this.requests.statusWrites += 1;
    const admitted = type.forUpdate(current, next, status, strictFields);
    return this.store.update(type.key, current.metadata.namespace ?? '', name!, (o) => {
      for (const k of Object.keys(o)) delete o[k];
      Object.assign(o, admitted);
    });
  }

  private watch(key: Resource, namespace: string | null, q: URLSearchParams, res: ServerResponse): void {
    const matches = (e: StoredEvent): boolean =>
      e.resource === key &&
      (namespace === null || e.object.metadata.namespace === namespace) &&
      matchesLabels(q.get('labelSelector'), e.object) &&
      matchesFields(q.get('fieldSelector'), e.object);
    const rv = q.get('resourceVersion') ?? '';
    const history = rv === '' || rv === '0' ? null : this.store.since(Number(rv));
    if (rv !== '' && rv !== '0' && history === null) {
      this.requests.expired += 1;
      const message = `too old resource version: ${rv} (${this.store.compactedRv})`;
      const expired = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'Expired',
        code: 410,
      };
      // One event, newline-terminated like every watch event (clients split the stream on newlines).
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: expired }) + '\n');
      return;
    }
    const replay =
      history ??
      (namespace === null ? this.store.listAll(key) : this.store.list(key, namespace)).map((object) => ({
        rv: this.store.rv,
        resource: key,
        type: 'ADDED' as const,
        object,
      }));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const write = (type: string, object: unknown) => {
      if (!res.writableEnded) res.write(JSON.stringify({ type, object }) + '\n');
    };
    for (const event of replay.filter(matches)) write(event.type, event.object);
    const unsubscribe = this.store.subscribe((event) => {
      if (matches(event)) write(event.type, event.object);
    });
    const timers: NodeJS.Timeout[] = [];
    if (q.get('allowWatchBookmarks') === 'true') {
      const bookmark = () => write('BOOKMARK', { metadata: { resourceVersion: String(this.store.rv) } });
      timers.push(setInterval(bookmark, 1000));
    }
    const close = (): void => {
      unsubscribe();
      timers.forEach(clearInterval);
      this.watches.delete(close);
      if (!res.writableEnded) res.end();
    };
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(close, timeout * 1000));
    this.watches.add(close);
    res.on('close', close);
  }
}
