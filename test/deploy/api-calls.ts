import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EVALUATION_GROUP, EVALUATION_PLURAL } from '../../src/crd/definition.js';
import { REPO } from './render.js';

/**
 * The Kubernetes API calls the server's code makes, read from its source, so the RBAC rules can be checked
 * against what the code needs rather than against a second hand-written list. The forms found in src/:
 * - typed calls of `@kubernetes/client-node`: namespaced (`batch.createNamespacedJob(…)`), across every
 *   namespace (`batch.listJobForAllNamespaces(…)`), on a cluster-scoped kind (`core.createNamespace(…)`), and
 *   on custom objects (`custom.replaceNamespacedCustomObjectStatus(…)`: the only custom resource the code
 *   touches is the `Evaluation`, so a CustomObject call is taken as one);
 * - raw paths of the streaming calls, which the typed API cannot make: watches of
 *   `/apis/batch/v1/namespaces/${namespace}/jobs` or cluster-wide `'/apis/batch/v1/jobs'` (with
 *   `watch: 'true'`), `…/pods/${name}/log` read with GET, and the Evaluation watch (`watchParams(query)` or
 *   `watch: 'true'` in the stream's parameters, or `'watch', 'true'` on its URL, of what the file lists: a reflector watches what it lists).
 * - pods/exec through `@kubernetes/client-node`'s `Exec` class (`new k8s.Exec(config)`): a WebSocket upgrade,
 *   a GET that RBAC authorizes as `get` and, since Kubernetes 1.31 (AuthorizePodWebsocketUpgradeCreatePermission),
 *   also as `create`: both verbs.
 * A call made any other way is not seen: extend this file when the code gains one.
 */

/** `namespace`: in one namespace (which one is the caller's business); `cluster`: needs a ClusterRole. */
export type Scope = 'namespace' | 'cluster';

export interface ApiCall {
  readonly group: string;
  /** Plural resource, with its subresource: `jobs`, `pods/log`. */
  readonly resource: string;
  readonly verb: string;
  readonly scope: Scope;
  /** Where it was found, for the failure message. */
  readonly file: string;
  /** The `KubeApi` method around the call (kube-client.ts), to tell which calls a project's API makes. */
  readonly method: string | null;
}

/** The RBAC verb of each typed method prefix. */
const VERBS: Record<string, string> = {
  create: 'create',
  read: 'get',
  get: 'get',
  list: 'list',
  replace: 'update',
  patch: 'patch',
  delete: 'delete',
  deleteCollection: 'deletecollection',
};

/** API group of each kind the code may touch; an unknown kind fails the extraction, to be added here. */
const GROUPS: Record<string, string> = {
  ConfigMap: '',
  Pod: '',
  ResourceQuota: '',
  LimitRange: '',
  Secret: '',
  Event: '',
  Namespace: '',
  Job: 'batch',
  NetworkPolicy: 'networking.k8s.io',
  Lease: 'coordination.k8s.io',
  CustomObject: EVALUATION_GROUP,
};

/** Kinds without a namespace: their typed calls carry no `Namespaced` (`createNamespace`). */
const CLUSTER_SCOPED = new Set(['Namespace']);

/** Subresources the typed client names as a suffix of the kind (`readNamespacedPodLog` → `pods/log`). */
const SUBRESOURCES: Record<string, string> = { Log: 'log', Status: 'status' };

function plural(kind: string): string {
  if (kind === 'CustomObject') return EVALUATION_PLURAL;
  const lower = kind.toLowerCase();
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  return lower.endsWith('s') ? `${lower}es` : `${lower}s`;
}

const TYPED_CALL =
  /\.(deleteCollection|create|read|get|list|replace|patch|delete)(Namespaced)?([A-Z][A-Za-z]*?)(ForAllNamespaces)?(Log|Status)?\(/g;
const RAW_PATH =
  /\/apis?\/(?:([a-z0-9.-]+)\/)?v1\/namespaces\/\$\{[^}]+\}\/([a-z]+)(?:\/\$\{[^}]+\}\/([a-z]+))?/g;
/** A cluster-wide collection as a whole string: `'/apis/batch/v1/jobs'`, `'/api/v1/pods'`. */
const RAW_CLUSTER_PATH = /'\/apis?\/(?:([a-z0-9.-]+)\/)?v1\/([a-z]+)'/g;
const WATCH_PARAM = "watch: 'true'";
const WATCH_URL_PARAM = "searchParams.set('watch', 'true')";
/** kube-client.ts's shared watch query string. */
const WATCH_PARAMS_CALL = 'watchParams(query)';
/** A method of an object literal: `    async deleteJob(name) {`, `    createJob: (body) =>`. */
const METHOD_LINE = /^\s+(?:async\s+)?([a-z][A-Za-z]*)(?:\([^)]*\)\s*\{|:\s*(?:async\s*)?\()/;

/** The nearest method declared above `index`, or null outside any. */
function methodAt(source: string, index: number): string | null {
  const lines = source.slice(0, index).split('\n').reverse();
  for (const line of lines) {
    const match = METHOD_LINE.exec(line);
    if (match) return match[1]!;
  }
  return null;
}

function typedCalls(file: string, source: string): ApiCall[] {
  const calls: ApiCall[] = [];
  for (const match of source.matchAll(TYPED_CALL)) {
    const [, prefix, namespaced, kind, allNamespaces, suffix] = match;
    // Without `Namespaced` or `ForAllNamespaces` only a cluster-scoped kind is a Kubernetes call; the rest
    // (`store.createProject(`, `fs.readFileSync(`) are not.
    if (!namespaced && !allNamespaces && !CLUSTER_SCOPED.has(kind!)) continue;
    const group = GROUPS[kind!];
    if (group === undefined) throw new Error(`${file}: API group of kind ${kind} unknown; add it to GROUPS`);
    const resource = plural(kind!) + (suffix ? `/${SUBRESOURCES[suffix]}` : '');
    const scope: Scope = namespaced ? 'namespace' : 'cluster';
    const method = methodAt(source, match.index);
    calls.push({ group, resource, verb: VERBS[prefix!]!, scope, file, method });
    const watches = [WATCH_URL_PARAM, WATCH_PARAM, WATCH_PARAMS_CALL].some((form) => source.includes(form));
    if (kind === 'CustomObject' && prefix === 'list' && watches) {
      calls.push({ group, resource, verb: 'watch', scope, file, method });
    }
  }
  return calls;
}

function rawCalls(file: string, source: string): ApiCall[] {
  const calls: ApiCall[] = [];
  for (const match of source.matchAll(RAW_PATH)) {
    const [, group = '', resource, subresource] = match;
    const method = methodAt(source, match.index);
    if (subresource) {
      calls.push({
        group,
        resource: `${resource}/${subresource}`,
        verb: 'get',
        scope: 'namespace',
        file,
        method,
      });
    } else if (source.includes(WATCH_PARAM)) {
      calls.push({ group, resource: resource!, verb: 'watch', scope: 'namespace', file, method });
    } else {
      throw new Error(`${file}: a raw path to ${resource} that is not a watch; teach api-calls.ts its verb`);
    }
  }
  for (const match of source.matchAll(RAW_CLUSTER_PATH)) {
    const [, group = '', resource] = match;
    if (!source.includes(WATCH_PARAM)) {
      throw new Error(
        `${file}: a raw cluster-wide path to ${resource} that is not a watch; teach api-calls.ts`,
      );
    }
    calls.push({
      group,
      resource: resource!,
      verb: 'watch',
      scope: 'cluster',
      file,
      method: methodAt(source, match.index),
    });
  }
  return calls;
}

const EXEC_CLASS = /new [\w.]*\bExec\(/g;

function execCalls(file: string, source: string): ApiCall[] {
  return [...source.matchAll(EXEC_CLASS)].flatMap((match) =>
    ['get', 'create'].map((verb) => ({
      group: '',
      resource: 'pods/exec',
      verb,
      scope: 'namespace' as const,
      file,
      method: methodAt(source, match.index),
    })),
  );
}

/**
 * Files whose every call is made in the namespace of the object it serves, which is a project's namespace
 * when the object belongs to a project: the interactive sandboxes' runtime (a sandbox pod lives in its
 * project's namespace). Their calls are marked with this method name, taken as called on a project's API.
 */
const PROJECT_NAMESPACE_FILES = ['src/runtime/kubernetes/sandboxes/'];
const IN_PROJECT_NAMESPACES = 'inProjectNamespaces';

function callsIn(file: string, source: string): ApiCall[] {
  const calls = [...typedCalls(file, source), ...rawCalls(file, source), ...execCalls(file, source)];
  if (!PROJECT_NAMESPACE_FILES.some((prefix) => file.startsWith(prefix))) return calls;
  return calls.map((call) => ({ ...call, method: IN_PROJECT_NAMESPACES }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** Every API call in src/, deduplicated by group, resource, verb, scope and enclosing method. */
export function apiCallsOfTheServer(): ApiCall[] {
  const unique = new Map<string, ApiCall>();
  for (const file of sourceFiles(path.join(REPO, 'src'))) {
    for (const call of callsIn(path.relative(REPO, file), readFileSync(file, 'utf8'))) {
      unique.set(
        `${call.group}|${call.resource}|${call.verb}|${call.scope}|${call.method}|${call.file}`,
        call,
      );
    }
  }
  return [...unique.values()];
}

/**
 * The files that are handed one evaluation's or one project's namespaced API (`NamespacedKubeApi`), and how
 * each names it: whatever they call on it may be called in a project namespace `proj-<id>`, created at run
 * time. The runtime's other calls (`this.deps.api.…`: quota, default-deny policy, the monitor) stay in its
 * own namespace. A new file handed a project's API must be added here.
 */
const PROJECT_API_USERS: Record<string, RegExp> = {
  'src/runtime/kubernetes/objects.ts': /\bapi\.([a-z][A-Za-z]*)\(/g,
  'src/runtime/kubernetes/log-collector.ts': /\bthis\.api\.([a-z][A-Za-z]*)\(/g,
  'src/runtime/kubernetes/namespaces.ts': /\bapi\.([a-z][A-Za-z]*)\(/g,
  'src/runtime/kubernetes/runtime.ts': /\btracked\.api\.([a-z][A-Za-z]*)\(/g,
};

/** The `KubeApi` methods called on a project's namespaced API. */
export function methodsOnProjectApis(): Set<string> {
  const methods = new Set<string>([IN_PROJECT_NAMESPACES]);
  for (const [file, pattern] of Object.entries(PROJECT_API_USERS)) {
    const source = readFileSync(path.join(REPO, file), 'utf8');
    for (const [, method] of source.matchAll(pattern)) methods.add(method!);
  }
  return methods;
}

/**
 * The methods only a project's API has (`NamespacedKubeApi` beyond `KubeApi` in kube-client.ts): the
 * runtime never calls them in its own namespace.
 */
export function projectOnlyMethods(): Set<string> {
  const source = readFileSync(path.join(REPO, 'src/runtime/kubernetes/kube-client.ts'), 'utf8');
  const body = /interface NamespacedKubeApi extends KubeApi \{([^}]*)\}/.exec(source)?.[1];
  if (body === undefined) throw new Error('kube-client.ts: NamespacedKubeApi not found; teach api-calls.ts');
  return new Set([...body.matchAll(/^\s+([a-z][A-Za-z]*)\(/gm)].map((m) => m[1]!));
}

export { callsIn as apiCallsIn };
