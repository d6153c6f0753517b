import { readFileSync } from 'node:fs';
import path from 'node:path';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Deployment,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { isMap, isSeq, parseAllDocuments } from 'yaml';
import type { ServerConfig } from '../../src/config/index.js';
import {
  apiCallsIn,
  apiCallsOfTheServer,
  methodsOnProjectApis,
  projectOnlyMethods,
  type ApiCall,
} from './api-calls.js';
import {
  apiDeployment,
  DEPLOY,
  describeWithKubectl,
  ofKind,
  OVERLAYS,
  renderOverlay,
  type KubeObject,
} from './render.js';
import { serverConfigOf } from './server-config.js';

/** A ClusterRole bound by a ClusterRoleBinding grants in every namespace: its rules are keyed `*`. */
const EVERY_NAMESPACE = '*';

const key = (namespace: string, group: string, resource: string, verb: string) =>
  `${namespace} ${group || 'core'}/${resource} ${verb}`;

function rulesGranted(namespace: string, rules: readonly V1PolicyRule[]): string[] {
  return rules.flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.map((verb) => key(namespace, group, resource, verb)),
      ),
    ),
  );
}

function grants(objects: readonly KubeObject[]): string[] {
  const roles = ofKind<V1Role>(objects, 'Role');
  const clusterRoles = ofKind<V1ClusterRole>(objects, 'ClusterRole');
  return [
    ...roles.flatMap((role) => rulesGranted(role.metadata!.namespace!, role.rules ?? [])),
    ...clusterRoles.flatMap((role) => rulesGranted(EVERY_NAMESPACE, role.rules ?? [])),
  ];
}

/**
 * Where the server makes each call, as its configuration says: the runtime's calls in CRUCIBLE_K8S_NAMESPACE;
 * the Lease's in the leader-election namespace; cluster-wide calls, and the calls a project's API makes
 * (projects' namespaces are made at run time), in every namespace; the Evaluation controller's in its
 * namespaces when it is on (every namespace, cluster-wide calls only, for `*`).
 */
interface ProjectMethods {
  /** Called on a project's API: in every namespace. */
  readonly called: Set<string>;
  /** Declared on a project's API only: never in the runtime's namespace. */
  readonly only: Set<string>;
}

function namespacesOf(call: ApiCall, config: ServerConfig, projectMethods: ProjectMethods): string[] {
  if (call.file.startsWith('src/crd/')) {
    if (!config.crd.enabled) return [];
    const namespaces = config.crd.namespaces ?? [config.kubernetes.namespace];
    if (namespaces.includes('*')) return call.scope === 'cluster' ? [EVERY_NAMESPACE] : [];
    return call.scope === 'namespace' ? namespaces : [];
  }
  if (call.scope === 'cluster') return [EVERY_NAMESPACE];
  if (call.group === 'coordination.k8s.io') {
    return [config.leaderElection.namespace ?? config.kubernetes.namespace];
  }
  const inProjects = call.method !== null && projectMethods.called.has(call.method);
  const inOwn = call.method === null || !projectMethods.only.has(call.method);
  return [...(inOwn ? [config.kubernetes.namespace] : []), ...(inProjects ? [EVERY_NAMESPACE] : [])];
}

function neededGrants(config: ServerConfig): string[] {
  const projectMethods = { called: methodsOnProjectApis(), only: projectOnlyMethods() };
  const needed = apiCallsOfTheServer().flatMap((call) =>
    namespacesOf(call, config, projectMethods).map((ns) => key(ns, call.group, call.resource, call.verb)),
  );
  return [...new Set(needed)].sort();
}

describe('what the server calls, read from its source', () => {
  it('finds typed calls and raw streaming paths, with their RBAC verbs', () => {
    const source = `
      await batch.deleteNamespacedJob({ name, namespace });
      await core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector });
      await api.replaceNamespacedLease({ name, namespace, body });
      await core.readNamespacedPodLog({ name, namespace });
      stream(\`/apis/batch/v1/namespaces/\${namespace}/jobs\`, { watch: 'true' });
      stream(\`/api/v1/namespaces/\${namespace}/pods/\${encodeURIComponent(pod)}/log\`, {});
    `;
    expect(apiCallsIn('x.ts', source).map((c) => `${c.group}/${c.resource} ${c.verb}`)).toEqual([
      'batch/jobs delete',
      '/configmaps deletecollection',
      'coordination.k8s.io/leases update',
      '/pods/log get',
      'batch/jobs watch',
      '/pods/log get',
    ]);
    expect(() => apiCallsIn('x.ts', 'apps.createNamespacedDeployment({})')).toThrow(/Deployment unknown/);
  });

  it('tells cluster-wide calls, cluster-scoped kinds and the Evaluation objects apart, and skips the rest', () => {
    const source = `
      await core.createNamespace({ body });
      await batch.listJobForAllNamespaces(args);
      stream(kind === 'jobs' ? '/apis/batch/v1/jobs' : '/api/v1/pods', { watch: 'true' });
      await custom.listCustomObjectForAllNamespaces(params);
      await custom.getNamespacedCustomObject(params);
      await custom.replaceNamespacedCustomObjectStatus(params);
      url.searchParams.set('watch', 'true');
      await store.createProject(project);
      fs.readFileSync(file);
    `;
    expect(apiCallsIn('x.ts', source).map((c) => `${c.scope} ${c.group}/${c.resource} ${c.verb}`)).toEqual([
      'cluster /namespaces create',
      'cluster batch/jobs list',
      'cluster crucible.dev/evaluations list',
      'cluster crucible.dev/evaluations watch',
      'namespace crucible.dev/evaluations get',
      'namespace crucible.dev/evaluations/status update',
      'cluster batch/jobs watch',
      'cluster /pods watch',
    ]);
  });

  it('names the KubeApi method around each call, and the methods a project namespace sees', () => {
    const source = `
    async deleteJob(name) {
      await call(() => batch.deleteNamespacedJob({ name, namespace }));
    },
    createJob: (body) => create(() => batch.createNamespacedJob({ namespace, body })),
    `;
    expect(apiCallsIn('x.ts', source).map((c) => c.method)).toEqual(['deleteJob', 'createJob']);
    const methods = methodsOnProjectApis();
    expect([...methods]).toEqual(expect.arrayContaining(['createJob', 'log', 'ensureResourceQuota']));
    // The quota is read, and the monitor lists, in the runtime's own namespace only.
    expect([...methods]).not.toContain('listResourceQuotas');
    expect([...methods]).not.toContain('listJobs');
    expect([...projectOnlyMethods()].sort()).toEqual(['ensureLimitRange', 'ensureResourceQuota']);
  });

  it('includes the runtime and the leader election (a change there must reach the Role)', () => {
    const calls = apiCallsOfTheServer().map((c) => `${c.group}/${c.resource} ${c.verb}`);
    expect(calls).toEqual(expect.arrayContaining(['batch/jobs create', '/pods watch', '/pods/log get']));
    expect(calls).toEqual(expect.arrayContaining(['coordination.k8s.io/leases get']));
    expect(calls).toEqual(
      expect.arrayContaining(['/namespaces create', 'crucible.dev/evaluations/status update']),
    );
  });
});

describe('deploy/base/rbac.yaml', () => {
  it('says why above every rule', () => {
    const text = readFileSync(path.join(DEPLOY, 'base', 'rbac.yaml'), 'utf8');
    const roles = parseAllDocuments(text).filter((d) =>
      ['Role', 'ClusterRole'].includes(d.get('kind') as string),
    );
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) {
      const rules = role.get('rules', true);
      if (!isSeq(rules)) throw new Error('rules is not a list');
      rules.items.forEach((rule, index) => {
        if (!isMap(rule)) throw new Error('a rule is not a mapping');
        // The parser hangs the comment above the first item on the list itself.
        const comment = (index === 0 ? rules.commentBefore : rule.commentBefore) ?? '';
        expect(comment.trim(), JSON.stringify(rule.toJSON())).toMatch(/\w{3,}.*\w{3,}/);
      });
    }
  });
});

describeWithKubectl('RBAC of the rendered overlays', () => {
  for (const overlay of OVERLAYS) {
    it(`${overlay}: no wildcard, every role bound to the server's ServiceAccount alone`, async () => {
      const objects = await renderOverlay(overlay);
      const roles = [...ofKind<V1Role>(objects, 'Role'), ...ofKind<V1ClusterRole>(objects, 'ClusterRole')];
      for (const role of roles) {
        for (const rule of role.rules ?? []) {
          for (const field of [rule.apiGroups, rule.resources, rule.verbs]) expect(field).not.toContain('*');
        }
      }
      const deployment: V1Deployment = apiDeployment(objects);
      const account = deployment.spec!.template.spec!.serviceAccountName;
      expect(account).toBe('crucible');
      const subject = { kind: 'ServiceAccount', name: account, namespace: deployment.metadata!.namespace };
      for (const [bindingKind, roleKind] of [
        ['RoleBinding', 'Role'],
        ['ClusterRoleBinding', 'ClusterRole'],
      ] as const) {
        const bindings = ofKind<V1RoleBinding | V1ClusterRoleBinding>(objects, bindingKind);
        const named = ofKind<V1Role>(objects, roleKind).map(
          (r) => `${r.metadata!.namespace}/${r.metadata!.name}`,
        );
        expect(bindings.map((b) => `${b.metadata!.namespace}/${b.roleRef.name}`).sort()).toEqual(
          named.sort(),
        );
        for (const binding of bindings) {
          expect(binding.roleRef.kind).toBe(roleKind);
          expect(binding.subjects).toEqual([subject]);
        }
      }
    });

    it(`${overlay}: grants exactly the calls in src/, in the namespaces the server makes them in`, async () => {
      const objects = await renderOverlay(overlay);
      const granted = grants(objects);
      expect(new Set(granted).size, 'a grant is repeated').toBe(granted.length);
      expect([...granted].sort()).toEqual(neededGrants(serverConfigOf(objects)));
    });

    it(`${overlay}: the only ClusterRole is the projects' one, and it cannot read Secrets or ConfigMaps`, async () => {
      const objects = await renderOverlay(overlay);
      const clusterRoles = ofKind<V1ClusterRole>(objects, 'ClusterRole');
      expect(clusterRoles.map((r) => r.metadata!.name)).toEqual(['crucible-projects']);
      const reads = grants(objects).filter((g) => g.startsWith(`${EVERY_NAMESPACE} `));
      for (const resource of ['secrets', 'configmaps']) {
        for (const verb of ['get', 'list', 'watch'])
          expect(reads).not.toContain(key('*', '', resource, verb));
      }
    });

    it(`${overlay}: a rule narrowed by name names the leader Lease the server uses`, async () => {
      const objects = await renderOverlay(overlay);
      const config = serverConfigOf(objects);
      const narrowed = [...ofKind<V1Role>(objects, 'Role'), ...ofKind<V1ClusterRole>(objects, 'ClusterRole')]
        .flatMap((r) => r.rules ?? [])
        .filter((r) => r.resourceNames);
      expect(narrowed.length).toBeGreaterThan(0);
      for (const rule of narrowed) {
        expect(rule.resources).toEqual(['leases']);
        expect(rule.resourceNames).toEqual([config.leaderElection.name]);
        // RBAC cannot check a name it is not given: create and list carry none.
        for (const verb of rule.verbs) expect(['get', 'update', 'patch', 'delete', 'watch']).toContain(verb);
      }
    });
  }
});
