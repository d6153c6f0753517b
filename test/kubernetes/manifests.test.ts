import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { describe, expect, it } from 'vitest';
import type { V1ConfigMap, V1Job } from '@kubernetes/client-node';
import {
  buildEvaluationManifests,
  parseKubernetesOptions,
  renderEvaluationManifests,
} from '../../src/runtime/kubernetes/index.js';
import { jobName, labelValue } from '../../src/runtime/kubernetes/names.js';
import { packPayload, splitUtf8 } from '../../src/runtime/kubernetes/payload.js';
import { request } from './harness.js';

const options = parseKubernetesOptions({ namespace: 'evals', runtimeClassName: 'gvisor' });

function validate(object: object): void {
  const o = object as { kind: string };
  if (o.kind === 'Job') new Job(object as never).validate();
  else if (o.kind === 'ConfigMap') new ConfigMap(object as never).validate();
  else if (o.kind === 'NetworkPolicy') new NetworkPolicy(object as never).validate();
  else throw new Error(`unexpected kind ${o.kind}`);
}

describe('evaluation manifests', () => {
  it('renders a locked-down Job that validates against the official schemas', () => {
    const req = request('print(1)', {
      evaluationId: 'Eval_42',
      priority: 'high',
      labels: { user: 'alice@example.com', team: 'ml', 'bad key!': 'x' },
      limits: { timeoutSeconds: 7, memoryMb: 128, tmpSizeMb: 32 },
    });
    const objects = renderEvaluationManifests(req, options);
    objects.forEach(validate);
    expect(objects.map((o) => (o as { kind: string }).kind)).toEqual(['NetworkPolicy', 'ConfigMap', 'Job']);
    const job = objects[2] as V1Job;
    const pod = job.spec!.template.spec!;
    const main = pod.containers[0]!;
    expect(job.metadata!.name).toBe(jobName('Eval_42'));
    expect(job.metadata!.labels).toMatchObject({
      'crucible.dev/evaluation': 'Eval_42',
      'crucible.dev/priority': 'high',
      'crucible.dev/user': labelValue('alice@example.com'),
      'cost.crucible.dev/team': 'ml',
    });
    expect(Object.keys(job.metadata!.labels!).some((k) => k.includes('bad'))).toBe(false);
    expect(job.spec).toMatchObject({
      backoffLimit: 0,
      activeDeadlineSeconds: 7 + options.deadlineAllowanceSeconds,
    });
    expect(pod).toMatchObject({
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      runtimeClassName: 'gvisor',
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(main.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(main.resources).toEqual({
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '1', memory: '128Mi' },
    });
    expect(main.image).toBe('python:3.12-slim');
    expect(pod.volumes!.find((v) => v.name === 'tmp')).toEqual({
      name: 'tmp',
      emptyDir: { sizeLimit: '32Mi' },
    });
    expect(main.command!.slice(-3)).toEqual(['python3', '-u', '/tmp/crucible/main.py']);
  });

  it('uses the configured image per language and omits runtimeClassName when unset', () => {
    const plain = parseKubernetesOptions({ images: { javascript: 'registry.local/node:24' } });
    const { job } = buildEvaluationManifests(request('console.log(1)', { language: 'javascript' }), plain);
    expect(job.spec!.template.spec!.containers[0]!.image).toBe('registry.local/node:24');
    expect(job.spec!.template.spec!.runtimeClassName).toBeUndefined();
    expect(job.spec!.template.spec!.priorityClassName).toBeUndefined();
  });

  it('names the PriorityClass of the submission priority when a prefix is set', () => {
    const classed = parseKubernetesOptions({ priorityClassPrefix: 'crucible-' });
    for (const priority of ['low', 'normal', 'high'] as const) {
      const { job } = buildEvaluationManifests(request('print(1)', { priority }), classed);
      expect(job.spec!.template.spec!.priorityClassName).toBe(`crucible-${priority}`);
    }
  });

  it('rejects unknown languages', () => {
    expect(() => buildEvaluationManifests(request('x', { language: 'cobol' }), options)).toThrow(
      /Unknown language/,
    );
  });

  it('keeps names unique and valid whatever the evaluation id', () => {
    const ids = ['a', 'A', 'a_b', 'a-b', 'x'.repeat(200), 'ünïcødé/../evil', ''];
    const names = ids.map(jobName);
    expect(new Set(names).size).toBe(ids.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9]([-a-z0-9]{0,56}[a-z0-9])?$/);
    for (const id of ids)
      expect(labelValue(id)).toMatch(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/);
  });

  it('splits 512 KiB of code and 1 MiB of stdin across ConfigMaps under the API limit', () => {
    const code = '# ü€\n'.repeat(80_000).slice(0, 512 * 1024);
    const stdin = 'x'.repeat(1024 * 1024);
    const { configMaps } = buildEvaluationManifests(request(code, { stdin }), options);
    expect(configMaps.length).toBeGreaterThan(1);
    for (const cm of configMaps) {
      validate(cm);
      expect(Buffer.byteLength(JSON.stringify(cm))).toBeLessThan(1024 * 1024);
    }
    const joined = (prefix: string): string =>
      configMaps
        .flatMap((cm: V1ConfigMap) => Object.entries(cm.data ?? {}))
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([, v]) => v)
        .join('');
    expect(joined('main.py.')).toBe(code);
    expect(joined('stdin.')).toBe(stdin);
  });

  it('never cuts a UTF-8 character', () => {
    const text = '€'.repeat(1000);
    const chunks = splitUtf8(text, 100);
    expect(chunks.join('')).toBe(text);
    for (const c of chunks) expect(Buffer.byteLength(c)).toBeLessThanOrEqual(100);
    expect(packPayload([{ name: 'stdin', content: '' }])).toEqual([{ 'stdin.000': '' }]);
  });
});
