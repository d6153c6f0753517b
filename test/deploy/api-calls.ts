import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './render.js';

/**
 * The Kubernetes API calls the server's code makes, read from its source, so the RBAC rules can be checked
 * against what the code needs rather than against a second hand-written list. Two forms exist in src/:
 * - typed calls of `@kubernetes/client-node` (`batch.createNamespacedJob(…)`, `core.readNamespacedLease(…)`);
 * - raw paths for the two streaming calls (`/apis/batch/v1/namespaces/${namespace}/jobs` watched with
 *   `watch: 'true'`, `…/pods/${name}/log` read with GET), which the client's typed API cannot make.
 * A call made any other way is not seen: extend this file when the code gains one.
 */

export interface ApiCall {
  readonly group: string;
  /** Plural resource, with its subresource: `jobs`, `pods/log`. */
  readonly resource: string;
  readonly verb: string;
  /** Where it was found, for the failure message. */
  readonly file: string;
}

/** The RBAC verb of each typed method prefix. */
const VERBS: Record<string, string> = {
  create: 'create',
  read: 'get',
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
  Secret: '',
  Event: '',
  Job: 'batch',
  NetworkPolicy: 'networking.k8s.io',
  Lease: 'coordination.k8s.io',
};

/** Subresources the typed client names as a suffix of the kind (`readNamespacedPodLog` → `pods/log`). */
const SUBRESOURCES: Record<string, string> = { Log: 'log', Status: 'status' };

function plural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  return lower.endsWith('s') ? `${lower}es` : `${lower}s`;
}

const TYPED_CALL =
  /\.(deleteCollection|create|read|list|replace|patch|delete)Namespaced([A-Z][A-Za-z]*?)(Log|Status)?\(/g;
const RAW_PATH =
  /\/apis?\/(?:([a-z0-9.-]+)\/)?v1\/namespaces\/\$\{[^}]+\}\/([a-z]+)(?:\/\$\{[^}]+\}\/([a-z]+))?/g;

function callsIn(file: string, source: string): ApiCall[] {
  const calls: ApiCall[] = [];
  for (const [, prefix, kind, suffix] of source.matchAll(TYPED_CALL)) {
    const group = GROUPS[kind!];
    if (group === undefined) throw new Error(`${file}: API group of kind ${kind} unknown; add it to GROUPS`);
    const resource = plural(kind!) + (suffix ? `/${SUBRESOURCES[suffix]}` : '');
    calls.push({ group, resource, verb: VERBS[prefix!]!, file });
  }
  for (const [, group = '', resource, subresource] of source.matchAll(RAW_PATH)) {
    if (subresource) {
      calls.push({ group, resource: `${resource}/${subresource}`, verb: 'get', file });
    } else if (source.includes("watch: 'true'")) {
      calls.push({ group, resource: resource!, verb: 'watch', file });
    } else {
      throw new Error(`${file}: a raw path to ${resource} that is not a watch; teach api-calls.ts its verb`);
    }
  }
  return calls;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** Every API call in src/, deduplicated by group, resource and verb. */
export function apiCallsOfTheServer(): ApiCall[] {
  const unique = new Map<string, ApiCall>();
  for (const file of sourceFiles(path.join(REPO, 'src'))) {
    for (const call of callsIn(path.relative(REPO, file), readFileSync(file, 'utf8'))) {
      unique.set(`${call.group}|${call.resource}|${call.verb}`, call);
    }
  }
  return [...unique.values()];
}

export { callsIn as apiCallsIn };
