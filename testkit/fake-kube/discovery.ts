import type { KObject } from './store.js';

/**
 * The discovery documents kubectl reads before it touches a resource: `/api`, `/apis` (APIGroupList: it
 * asks for the aggregated `apidiscovery.k8s.io/v2` form first and falls back to this one when the answer is
 * plain JSON), `/api/v1` and `/apis/<group>/<version>` (APIResourceList), and `/version`. Built-in resources
 * are those the fake serves; custom resources come from the stored CRDs.
 */

interface ResourceEntry {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const entry = (name: string, kind: string, shortNames?: string[], namespaced = true): ResourceEntry => ({
  name,
  singularName: kind.toLowerCase(),
  namespaced,
  kind,
  verbs: ALL_VERBS,
  ...(shortNames ? { shortNames } : {}),
});

const BUILT_IN: Record<string, ResourceEntry[]> = {
  v1: [
    entry('pods', 'Pod', ['po']),
    { ...entry('pods/log', 'Pod'), singularName: '', verbs: ['get'] },
    entry('configmaps', 'ConfigMap', ['cm']),
    entry('resourcequotas', 'ResourceQuota', ['quota']),
  ],
  'batch/v1': [entry('jobs', 'Job')],
  'networking.k8s.io/v1': [entry('networkpolicies', 'NetworkPolicy', ['netpol'])],
  'coordination.k8s.io/v1': [entry('leases', 'Lease')],
  'apiextensions.k8s.io/v1': [
    entry('customresourcedefinitions', 'CustomResourceDefinition', ['crd', 'crds'], false),
  ],
};

interface CrdShape {
  spec: {
    group: string;
    scope: string;
    names: { plural: string; singular?: string; kind: string; shortNames?: string[]; categories?: string[] };
    versions: { name: string; served: boolean; subresources?: { status?: object } }[];
  };
}

function customResources(crds: readonly KObject[]): Record<string, ResourceEntry[]> {
  const out: Record<string, ResourceEntry[]> = {};
  for (const crd of crds as unknown as CrdShape[]) {
    const { group, names, scope } = crd.spec;
    for (const version of crd.spec.versions.filter((v) => v.served)) {
      const list = (out[`${group}/${version.name}`] ??= []);
      list.push({
        name: names.plural,
        singularName: names.singular ?? names.kind.toLowerCase(),
        namespaced: scope === 'Namespaced',
        kind: names.kind,
        verbs: ALL_VERBS,
        ...(names.shortNames ? { shortNames: names.shortNames } : {}),
        ...(names.categories ? { categories: names.categories } : {}),
      });
      if (version.subresources?.status) {
        list.push({
          name: `${names.plural}/status`,
          singularName: '',
          namespaced: scope === 'Namespaced',
          kind: names.kind,
          verbs: ['get', 'patch', 'update'],
        });
      }
    }
  }
  return out;
}

/** The discovery document at `path`, or null when `path` is not a discovery path. */
export function discovery(path: string, crds: readonly KObject[]): object | null {
  const groupVersions = { ...BUILT_IN, ...customResources(crds) };
  const clean = path.replace(/\/$/, '');
  if (clean === '/version') {
    return { major: '1', minor: '32', gitVersion: 'v1.32.0-fake', platform: 'linux/amd64' };
  }
  if (clean === '/api') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }],
    };
  }
  if (clean === '/apis') {
    const groups = new Map<string, string[]>();
    for (const gv of Object.keys(groupVersions)) {
      if (!gv.includes('/')) continue;
      const [group, version] = gv.split('/') as [string, string];
      groups.set(group, [...(groups.get(group) ?? []), version]);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }
  const core = clean === '/api/v1' ? 'v1' : null;
  const match = /^\/apis\/([^/]+)\/([^/]+)$/.exec(clean);
  const groupVersion = core ?? (match ? `${match[1]}/${match[2]}` : null);
  if (!groupVersion) return null;
  const resources = groupVersions[groupVersion];
  if (!resources) return null;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

/**
 * The OpenAPI v3 documents kubectl reads: `kubectl apply` fetches `/openapi/v3`, then its group-version's
 * document, to learn whether the server takes `?fieldValidation=` on PATCH (then the server validates and
 * kubectl does not; without it kubectl wants the v2 document for validation on the client). Only what that
 * check reads is here: per resource path, a PATCH with `x-kubernetes-group-version-kind` and the parameter.
 */
export function openApi(path: string, crds: readonly KObject[]): object | null {
  const groupVersions = { ...BUILT_IN, ...customResources(crds) };
  const key = (gv: string) => (gv.includes('/') ? `apis/${gv}` : `api/${gv}`);
  if (path.replace(/\/$/, '') === '/openapi/v3') {
    return {
      paths: Object.fromEntries(
        Object.keys(groupVersions).map((gv) => [key(gv), { serverRelativeURL: `/openapi/v3/${key(gv)}` }]),
      ),
    };
  }
  const gv = Object.keys(groupVersions).find((candidate) => path === `/openapi/v3/${key(candidate)}`);
  if (!gv) return null;
  const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
  const paths: Record<string, object> = {};
  for (const resource of groupVersions[gv]!.filter((r) => !r.name.includes('/'))) {
    const base = `/${key(gv)}${resource.namespaced ? '/namespaces/{namespace}' : ''}/${resource.name}/{name}`;
    paths[base] = {
      patch: {
        'x-kubernetes-group-version-kind': { group, version, kind: resource.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths };
}
