import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRules, invalidMessage, prune, validate, type Cause, type Schema } from './crd-schema.js';
import { discovery, openApi } from './discovery.js';
import { matchesFields, matchesLabels } from './selectors.js';
import { StoreError, type KObject, type ObjectStore, type Resource, type StoredEvent } from './store.js';

/**
 * Custom resources, served generically as the API server's apiextensions part does: POST a
 * `CustomResourceDefinition` and its group/version/plural answer list, watch, get, create, update (PUT and
 * JSON merge PATCH) and delete, with the `/status` subresource's semantics (writes to the main resource keep
 * the stored status, writes to `/status` keep everything but the status), `metadata.generation` bumped on
 * spec changes only, pruning and validation against the CRD's schema (CEL rules included), finalizers,
 * Table output with the CRD's printer columns (what `kubectl get` asks for) and the discovery documents
 * kubectl reads first.
 */

interface Crd extends KObject {
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema?: { openAPIV3Schema?: Schema };
      subresources?: { status?: object };
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string; description?: string }[];
    }[];
  };
}

const CRD_RESOURCE = 'customresourcedefinitions' as Resource;
const CRD_PATH = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions(?:\/([^/]+))?$/;
const CR_PATH = /^\/apis\/([^/]+)\/([^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+))?(?:\/(status))?$/;

const resourceKey = (crd: Crd) => `cr:${crd.spec.group}/${crd.spec.names.plural}` as Resource;

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function failure(code: number, reason: string, message: string, details?: object): StoreError {
  return new StoreError(code, reason, message, details as never);
}

async function body(req: IncomingMessage): Promise<KObject> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return (text ? JSON.parse(text) : {}) as KObject;
  } catch {
    throw failure(400, 'BadRequest', 'the body of the request was in an unknown format');
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

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const withoutMeta = (o: KObject) => JSON.stringify({ ...o, metadata: undefined, status: undefined });

export class CustomResources {
  readonly requests = { statusWrites: 0, conflicts: 0 };
  /** Next N status writes answer 409 Conflict although their resourceVersion is current (tests). */
  failStatusWrites = 0;
  private readonly watches = new Set<() => void>();

  constructor(private readonly store: ObjectStore) {}

  /** Handles the request if it is about CRDs, custom resources or discovery; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    try {
      const found = discovery(url.pathname, this.definitions()) ?? openApi(url.pathname, this.definitions());
      if (found) return (send(res, 200, found), true);
      const crdMatch = CRD_PATH.exec(url.pathname);
      if (crdMatch) return (await this.definitionRequest(req, res, crdMatch[1]), true);
      const m = CR_PATH.exec(url.pathname);
      if (!m) return false;
      const [, group, version, namespace, plural, name, sub] = m;
      const crd = this.definitions().find((d) => d.spec.group === group && d.spec.names.plural === plural);
      const served = crd?.spec.versions.find((v) => v.name === version && v.served);
      if (!crd || !served) return false;
      await this.resourceRequest(
        req,
        res,
        url,
        crd,
        served,
        namespace ?? null,
        name ?? null,
        sub === 'status',
      );
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

  private async definitionRequest(req: IncomingMessage, res: ServerResponse, name?: string): Promise<void> {
    const notFound = (n: string) =>
      failure(404, 'NotFound', `customresourcedefinitions.apiextensions.k8s.io "${n}" not found`);
    if (req.method === 'GET' && !name) {
      return send(res, 200, {
        kind: 'CustomResourceDefinitionList',
        apiVersion: 'apiextensions.k8s.io/v1',
        metadata: { resourceVersion: String(this.store.rv) },
        items: this.definitions(),
      });
    }
    if (req.method === 'GET') {
      const found = this.store.get(CRD_RESOURCE, '', name!);
      if (!found) throw notFound(name!);
      return send(res, 200, found);
    }
    if (req.method === 'DELETE') {
      const gone = this.store.delete(CRD_RESOURCE, '', name!);
      if (!gone) throw notFound(name!);
      return send(res, 200, gone);
    }
    if (req.method !== 'POST') throw failure(405, 'MethodNotAllowed', `${req.method} not supported`);
    const crd = (await body(req)) as Crd;
    const expected = `${crd.spec?.names?.plural}.${crd.spec?.group}`;
    if (crd.metadata?.name !== expected) {
      throw failure(
        422,
        'Invalid',
        `CustomResourceDefinition.apiextensions.k8s.io "${crd.metadata?.name}" is invalid: metadata.name: Invalid value: "${crd.metadata?.name}": must be spec.names.plural+"."+spec.group`,
      );
    }
    for (const version of crd.spec.versions) {
      try {
        checkRules(version.schema?.openAPIV3Schema ?? {});
      } catch (error) {
        throw failure(
          422,
          'Invalid',
          `CustomResourceDefinition.apiextensions.k8s.io "${expected}" is invalid: spec.validation.openAPIV3Schema${(error as Error).message}`,
        );
      }
    }
    if (this.store.get(CRD_RESOURCE, '', expected)) {
      throw failure(
        409,
        'AlreadyExists',
        `customresourcedefinitions.apiextensions.k8s.io "${expected}" already exists`,
      );
    }
    const accepted = { ...crd.spec.names, listKind: crd.spec.names.listKind ?? `${crd.spec.names.kind}List` };
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const created = this.store.create(CRD_RESOURCE, '', {
      ...crd,
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      status: {
        acceptedNames: accepted,
        storedVersions: crd.spec.versions.filter((v) => v.storage).map((v) => v.name),
        conditions: [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', lastTransitionTime: now },
          { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', lastTransitionTime: now },
        ],
      },
    });
    send(res, 201, created);
  }

  private async resourceRequest(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    crd: Crd,
    version: Crd['spec']['versions'][number],
    namespace: string | null,
    name: string | null,
    status: boolean,
  ): Promise<void> {
    const key = resourceKey(crd);
    const q = url.searchParams;
    const kind = crd.spec.names.kind;
    const apiVersion = `${crd.spec.group}/${version.name}`;
    const qualified = `${crd.spec.names.plural}.${crd.spec.group}`;
    const notFound = (n: string) =>
      failure(404, 'NotFound', `${qualified} "${n}" not found`, {
        name: n,
        group: crd.spec.group,
        kind: crd.spec.names.plural,
      });
    const hasStatus = Boolean(version.subresources?.status);
    const schema = version.schema?.openAPIV3Schema ?? {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    };
    const admit = (object: KObject, old: KObject | undefined): KObject => {
      const pruned = prune(object, schema) as KObject;
      pruned.metadata = object.metadata;
      const causes: Cause[] = validate(schema, pruned, old);
      if (causes.length > 0) {
        throw failure(422, 'Invalid', invalidMessage(kind, crd.spec.group, object.metadata.name, causes), {
          name: object.metadata.name,
          group: crd.spec.group,
          kind,
          causes,
        });
      }
      return { ...pruned, apiVersion, kind };
    };
    const all = () => (namespace === null ? this.store.listAll(key) : this.store.list(key, namespace));

    if (req.method === 'GET' && !name) {
      if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(key, namespace, q, res);
      const items = all()
        .filter((o) => matchesLabels(q.get('labelSelector'), o) && matchesFields(q.get('fieldSelector'), o))
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      if (wantsTable(req)) return send(res, 200, table(version, items, String(this.store.rv)));
      return send(res, 200, {
        kind: crd.spec.names.listKind ?? `${kind}List`,
        apiVersion,
        metadata: { resourceVersion: String(this.store.rv) },
        items,
      });
    }
    if (namespace === null && crd.spec.scope === 'Namespaced')
      throw failure(404, 'NotFound', 'the server could not find the requested resource');
    const ns = namespace ?? '';
    if (req.method === 'POST' && !name) {
      const input = await body(req);
      input.metadata = { ...(input.metadata ?? {}), namespace: ns } as KObject['metadata'];
      if (!input.metadata.name && !input.metadata.generateName) {
        throw failure(
          422,
          'Invalid',
          `${kind}.${crd.spec.group} "" is invalid: metadata.name: Required value: name or generateName is required`,
        );
      }
      if (input.metadata.name && this.store.get(key, ns, input.metadata.name)) {
        throw failure(409, 'AlreadyExists', `${qualified} "${input.metadata.name}" already exists`, {
          name: input.metadata.name,
          group: crd.spec.group,
          kind: crd.spec.names.plural,
        });
      }
      const object = admit(input, undefined);
      if (hasStatus) delete object.status;
      (object.metadata as Record<string, unknown>)['generation'] = 1;
      return send(res, 201, this.store.create(key, ns, object));
    }
    if (!name) throw failure(405, 'MethodNotAllowed', `${req.method} not supported`);
    const current = this.store.get(key, ns, name);
    if (req.method === 'GET') {
      if (!current) throw notFound(name);
      return send(
        res,
        200,
        wantsTable(req) ? table(version, [current], current.metadata.resourceVersion ?? '') : current,
      );
    }
    if (req.method === 'DELETE') {
      await body(req);
      if (!current) throw notFound(name);
      const gone = this.store.delete(key, ns, name);
      return send(res, 200, gone);
    }
    if (req.method !== 'PUT' && req.method !== 'PATCH')
      throw failure(405, 'MethodNotAllowed', `${req.method} not supported`);
    if (!current) throw notFound(name);
    const sent = await body(req);
    let next: KObject;
    if (req.method === 'PATCH') {
      const type = req.headers['content-type'] ?? '';
      if (!type.includes('merge-patch')) {
        throw failure(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
      }
      next = mergePatch(current, sent) as KObject;
    } else {
      next = sent;
      const sentRv = sent.metadata?.resourceVersion ?? '';
      if (sentRv === '') {
        throw failure(
          422,
          'Invalid',
          `${kind}.${crd.spec.group} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
        );
      }
      if (sentRv !== current.metadata.resourceVersion || (status && this.failStatusWrites > 0)) {
        if (status && this.failStatusWrites > 0) this.failStatusWrites -= 1;
        throw failure(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name, group: crd.spec.group, kind: crd.spec.names.plural },
        );
      }
    }
    if (status) {
      this.requests.statusWrites += 1;
      // The status subresource takes the status only; everything else stays as stored.
      next = { ...clone(current), status: next.status };
      if (next.status === undefined) delete next.status;
    } else {
      const metadata = {
        ...next.metadata,
        name,
        namespace: ns,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
      };
      next = { ...next, metadata };
      if (hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
    }
    const admitted = admit(next, current);
    const generation = Number((current.metadata as Record<string, unknown>)['generation'] ?? 1);
    const changed =
      withoutMeta(admitted) !== withoutMeta(current) &&
      (!hasStatus ||
        JSON.stringify({ ...admitted, metadata: 0, status: 0 }) !==
          JSON.stringify({ ...current, metadata: 0, status: 0 }));
    const stored = this.store.update(key, ns, name, (o) => {
      for (const k of Object.keys(o)) delete o[k];
      Object.assign(o, clone(admitted));
      o.metadata.resourceVersion = current.metadata.resourceVersion;
      if (current.metadata.deletionTimestamp)
        o.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      (o.metadata as Record<string, unknown>)['generation'] =
        changed && !status ? generation + 1 : generation;
    });
    send(res, 200, stored ?? admitted);
  }

  private watch(key: Resource, namespace: string | null, q: URLSearchParams, res: ServerResponse): void {
    const matches = (e: StoredEvent): boolean =>
      e.resource === key &&
      (namespace === null || e.object.metadata.namespace === namespace) &&
      matchesLabels(q.get('labelSelector'), e.object) &&
      matchesFields(q.get('fieldSelector'), e.object);
    const rv = q.get('resourceVersion') ?? '';
    let replay: StoredEvent[];
    if (rv === '' || rv === '0') {
      const objects = namespace === null ? this.store.listAll(key) : this.store.list(key, namespace);
      replay = objects
        .map((object) => ({ rv: this.store.rv, resource: key, type: 'ADDED' as const, object }))
        .filter(matches);
    } else {
      const history = this.store.since(Number(rv));
      if (history === null) {
        send(res, 200, {
          type: 'ERROR',
          object: {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: `too old resource version: ${rv} (${this.store.compactedRv})`,
            reason: 'Expired',
            code: 410,
          },
        });
        return;
      }
      replay = history.filter(matches);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const write = (type: string, object: unknown) => {
      if (!res.writableEnded) res.write(JSON.stringify({ type, object }) + '\n');
    };
    for (const event of replay) write(event.type, event.object);
    const unsubscribe = this.store.subscribe((event) => {
      if (matches(event)) write(event.type, event.object);
    });
    const timers: NodeJS.Timeout[] = [];
    if (q.get('allowWatchBookmarks') === 'true') {
      timers.push(
        setInterval(() => write('BOOKMARK', { metadata: { resourceVersion: String(this.store.rv) } }), 1000),
      );
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const close = (): void => {
      unsubscribe();
      timers.forEach(clearInterval);
      this.watches.delete(close);
      if (!res.writableEnded) res.end();
    };
    if (timeout > 0) timers.push(setTimeout(close, timeout * 1000));
    this.watches.add(close);
    res.on('close', close);
  }
}

function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

/** A value at a simple JSONPath (`.status.phase`), as the printer columns use them. */
function at(object: unknown, jsonPath: string): unknown {
  return jsonPath
    .split('.')
    .filter(Boolean)
    .reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      object,
    );
}

/** "5s", "3m", "2h": what the server puts in `date` columns (`HumanDuration` of the time since). */
function age(timestamp: string): string {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 3600 * 2) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

/** The `meta.k8s.io/v1` Table `kubectl get` asks for: Name, then the CRD's printer columns. */
function table(version: Crd['spec']['versions'][number], items: KObject[], resourceVersion: string) {
  const columns = version.additionalPrinterColumns ?? [
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: [
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 0,
      },
      ...columns.map((c) => ({
        name: c.name,
        type: c.type === 'date' ? 'date' : c.type,
        format: '',
        description: c.description ?? '',
        priority: 0,
      })),
    ],
    rows: items.map((item) => ({
      cells: [
        item.metadata.name,
        ...columns.map((c) => {
          const value = at(item, c.jsonPath);
          if (value === undefined || value === null) return null;
          return c.type === 'date' && typeof value === 'string' ? age(value) : value;
        }),
      ],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata },
    })),
  };
}
