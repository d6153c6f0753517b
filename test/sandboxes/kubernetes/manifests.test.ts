import { Pod } from 'kubernetes-models/v1/Pod';
import { describe, expect, it } from 'vitest';
import { buildEvaluationManifests } from '../../../src/runtime/kubernetes/manifests.js';
import { parseKubernetesOptions } from '../../../src/runtime/kubernetes/options.js';
import { buildSandboxPod, sandboxPodName } from '../../../src/runtime/kubernetes/sandboxes/manifests.js';
import { request } from '../../runtime/tracked.js';
import { sandboxSpec } from '../runtime-conformance.js';

const options = parseKubernetesOptions({
  namespace: 'evals',
  runtimeClassName: 'gvisor',
  runnerImage: 'r:1',
});

describe('a sandbox pod, next to an evaluation pod built with the same options', () => {
  const sandbox = buildSandboxPod(sandboxSpec('s-1'), options, sandboxPodName('s-1', 'abc123'));
  const evaluation = buildEvaluationManifests(request('print(1)'), options).job.spec!.template.spec!;

  it("has exactly the evaluation pod's lock-down: pod and container security, token, links, runtime class", () => {
    const spec = sandbox.spec!;
    for (const field of [
      'securityContext',
      'automountServiceAccountToken',
      'enableServiceLinks',
      'runtimeClassName',
      'restartPolicy',
      'terminationGracePeriodSeconds',
    ] as const) {
      expect(spec[field], field).toEqual(evaluation[field]);
    }
    expect(spec.initContainers).toEqual(evaluation.initContainers);
    expect(spec.containers[0]!.securityContext).toEqual(evaluation.containers[0]!.securityContext);
    expect(spec.containers[0]!.image).toBe(evaluation.containers[0]!.image);
    expect(spec.volumes?.find((v) => v.name === 'runner-bin')).toEqual(
      evaluation.volumes?.find((v) => v.name === 'runner-bin'),
    );
    // Nothing the evaluation pod lacks that would widen it: no host paths, no ports, no service account.
    expect(spec.volumes?.some((v) => v.hostPath)).toBe(false);
    expect(spec.containers[0]!.ports).toBeUndefined();
    expect(spec.serviceAccountName).toBeUndefined();
    expect(spec.hostNetwork ?? false).toBe(false);
  });

  it('is a valid Pod, named within 63 characters, in the project namespace when the sandbox has one', () => {
    expect(() => new Pod(sandbox as never).validate()).not.toThrow();
    const long = sandboxPodName('A'.repeat(200) + '/weird id', 'abc123');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    const project = { id: 'p', namespace: 'proj-p', limits: {}, egress: [] };
    expect(buildSandboxPod(sandboxSpec('s', { project }), options, 'n').metadata?.namespace).toBe('proj-p');
    expect(sandbox.metadata?.namespace).toBe('evals');
  });

  it('refuses an unknown language with the field named', () => {
    expect(() => buildSandboxPod(sandboxSpec('s', { language: 'cobol' }), options, 'n')).toThrow(
      /Unknown language/,
    );
  });
});
