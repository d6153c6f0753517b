import { LimitRange } from 'kubernetes-models/v1/LimitRange';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { describe, expect, it } from 'vitest';
import { projectNamespace } from '../../src/core/index.js';
import { buildEvaluationManifests, parseKubernetesOptions } from '../../src/runtime/kubernetes/index.js';
import { buildProjectManifests, renderProjectManifests } from '../../src/runtime/kubernetes/namespaces.js';
import { request } from '../kubernetes/harness.js';

const project = {
  id: '0f0e0d0c-0000-4000-8000-000000000001',
  namespace: projectNamespace('0f0e0d0c-0000-4000-8000-000000000001'),
  limits: { memoryMb: 2048, maxConcurrent: 4, cpu: 0.25 },
  egress: ['10.0.0.0/8', '2001:db8::/32'],
};

describe('project manifests', () => {
  it('validate against the official schemas, in creation order', () => {
    const objects = renderProjectManifests(project);
    expect(objects.map((o) => (o as { kind: string }).kind)).toEqual([
      'Namespace',
      'NetworkPolicy',
      'ResourceQuota',
      'LimitRange',
    ]);
    const [ns, policy, quota, limits] = objects;
    new Namespace(ns as never).validate();
    new NetworkPolicy(policy as never).validate();
    new ResourceQuota(quota as never).validate();
    new LimitRange(limits as never).validate();
    expect((quota as ResourceQuota).spec?.hard).toMatchObject({ pods: '4', 'requests.cpu': '250m' });
  });

  it('a project without limits or egress: the deny-all policy only, no quota, no LimitRange', () => {
    const bare = buildProjectManifests({ ...project, limits: {}, egress: [] });
    expect(bare.resourceQuota).toBeUndefined();
    expect(bare.limitRange).toBeUndefined();
    expect(bare.networkPolicy.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  it("an evaluation of a project goes to the project's namespace, labelled, with the quota wait in its deadline", () => {
    const options = parseKubernetesOptions({ namespace: 'evals', quotaWaitSeconds: 120 });
    const plain = buildEvaluationManifests(request('print(1)', { limits: { timeoutSeconds: 30 } }), options);
    const { job, configMaps } = buildEvaluationManifests(
      { ...request('print(1)', { limits: { timeoutSeconds: 30 } }), project },
      options,
    );
    expect([job.metadata?.namespace, ...configMaps.map((c) => c.metadata?.namespace)]).toEqual(
      Array(1 + configMaps.length).fill(project.namespace),
    );
    expect(plain.job.metadata?.namespace).toBe('evals');
    expect(job.metadata?.labels?.['crucible.dev/project-id']).toBe(project.id);
    expect(job.spec?.template.metadata?.labels?.['crucible.dev/project-id']).toBe(project.id);
    expect(plain.job.metadata?.labels).not.toHaveProperty('crucible.dev/project-id');
    expect(job.spec?.activeDeadlineSeconds).toBe((plain.job.spec?.activeDeadlineSeconds ?? 0) + 120);
  });

  it('a project Job is not queued in Kueue (no LocalQueue in its namespace; its ResourceQuota bounds it)', () => {
    const options = parseKubernetesOptions({ namespace: 'evals', kueueQueue: 'team' });
    const plain = buildEvaluationManifests(request('print(1)'), options).job;
    const inProject = buildEvaluationManifests({ ...request('print(1)'), project }, options).job;
    expect([plain.spec?.suspend, plain.metadata?.labels?.['kueue.x-k8s.io/queue-name']]).toEqual([
      true,
      'team',
    ]);
    expect(inProject.spec).not.toHaveProperty('suspend');
    expect(inProject.metadata?.labels).not.toHaveProperty('kueue.x-k8s.io/queue-name');
  });
});
