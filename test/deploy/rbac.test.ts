import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1Deployment, V1PolicyRule, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { isMap, isSeq, parseAllDocuments } from 'yaml';
import { apiCallsIn, apiCallsOfTheServer } from './api-calls.js';
import { apiDeployment, DEPLOY, describeWithKubectl, ofKind, OVERLAYS, renderOverlay } from './render.js';
import { serverConfigOf } from './server-config.js';

const key = (namespace: string, group: string, resource: string, verb: string) =>
  `${namespace} ${group || 'core'}/${resource} ${verb}`;

function grants(roles: readonly V1Role[]): string[] {
  return roles.flatMap((role) =>
    (role.rules ?? []).flatMap((rule: V1PolicyRule) =>
      (rule.apiGroups ?? []).flatMap((group) =>
        (rule.resources ?? []).flatMap((resource) =>
          rule.verbs.map((verb) => key(role.metadata!.namespace!, group, resource, verb)),
        ),
      ),
    ),
  );
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

  it('includes the runtime and the leader election (a change there must reach the Role)', () => {
    const calls = apiCallsOfTheServer().map((c) => `${c.group}/${c.resource} ${c.verb}`);
    expect(calls).toEqual(expect.arrayContaining(['batch/jobs create', '/pods watch', '/pods/log get']));
    expect(calls).toEqual(expect.arrayContaining(['coordination.k8s.io/leases get']));
  });
});

describe('deploy/base/rbac.yaml', () => {
  it('says why above every rule', () => {
    const text = readFileSync(path.join(DEPLOY, 'base', 'rbac.yaml'), 'utf8');
    const roles = parseAllDocuments(text).filter((d) => d.get('kind') === 'Role');
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
    it(`${overlay}: namespaced Roles only, no wildcard, bound to the server's ServiceAccount alone`, async () => {
      const objects = await renderOverlay(overlay);
      expect(ofKind(objects, 'ClusterRole')).toEqual([]);
      expect(ofKind(objects, 'ClusterRoleBinding')).toEqual([]);
      for (const role of ofKind<V1Role>(objects, 'Role')) {
        for (const rule of role.rules ?? []) {
          for (const field of [rule.apiGroups, rule.resources, rule.verbs]) expect(field).not.toContain('*');
        }
      }
      const deployment: V1Deployment = apiDeployment(objects);
      const account = deployment.spec!.template.spec!.serviceAccountName;
      expect(account).toBe('crucible');
      const bindings = ofKind<V1RoleBinding>(objects, 'RoleBinding');
      expect(bindings.map((b) => b.roleRef.name).sort()).toEqual(
        ofKind<V1Role>(objects, 'Role')
          .map((r) => r.metadata!.name)
          .sort(),
      );
      for (const binding of bindings) {
        expect(binding.roleRef.kind).toBe('Role');
        expect(binding.subjects).toEqual([
          { kind: 'ServiceAccount', name: account, namespace: deployment.metadata!.namespace },
        ]);
      }
    });

    it(`${overlay}: grants exactly the calls in src/, in the namespaces the server makes them in`, async () => {
      const objects = await renderOverlay(overlay);
      const config = serverConfigOf(objects);
      const leaseNamespace = config.leaderElection.namespace ?? config.kubernetes.namespace;
      const needed = apiCallsOfTheServer().map((call) =>
        key(
          call.group === 'coordination.k8s.io' ? leaseNamespace : config.kubernetes.namespace,
          call.group,
          call.resource,
          call.verb,
        ),
      );
      const granted = grants(ofKind<V1Role>(objects, 'Role'));
      expect(new Set(granted).size, 'a grant is repeated').toBe(granted.length);
      expect([...granted].sort()).toEqual([...new Set(needed)].sort());
    });

    it(`${overlay}: a rule narrowed by name names the leader Lease the server uses`, async () => {
      const objects = await renderOverlay(overlay);
      const config = serverConfigOf(objects);
      const narrowed = ofKind<V1Role>(objects, 'Role')
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
