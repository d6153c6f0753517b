import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterEach, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubeCli } from '../support/kube-cli.js';
import { DEFAULT_LIMITS } from '../../src/core/index.js';

afterEach(() => vi.restoreAllMocks());

it('kube render prints every object as YAML', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-render-'));
  const file = join(dir, 'main.py');
  await writeFile(file, 'print(1)\n');
  const docs = (await kubeOutput([
    'render',
    ...['--language', 'python', '--code-file', file, '--namespace', 'evals'],
    ...['--runtime-class', 'gvisor', '--timeout', '5', '--memory', '64'],
  ])) as unknown as { kind: string; metadata: { namespace: string } }[];
  expect(docs.map((d) => d.kind)).toEqual(['NetworkPolicy', 'ConfigMap', 'Job']);
  expect(docs.every((d) => d.metadata.namespace === 'evals')).toBe(true);
  const job = docs[2] as unknown as {
    spec: { activeDeadlineSeconds: number; template: { spec: { runtimeClassName: string } } };
  };
  new Job(job as never).validate();
  expect(job.spec.template.spec.runtimeClassName).toBe('gvisor');
  expect(job.spec.activeDeadlineSeconds).toBe(15);
});

it('kube render prints exactly what renderEvaluation builds, with stable names and default limits', async () => {
  const { renderEvaluation } = await import('../../src/runtime/kubernetes/index.js');
  const first = renderEvaluation({ language: 'python', code: 'print(2)' });
  const again = renderEvaluation({ language: 'python', code: 'print(2)' });
  expect(again).toEqual(first);
  const job = first.at(-1) as { metadata: { name: string }; spec: { activeDeadlineSeconds: number } };
  expect(job.metadata.name).toMatch(/^crucible-preview-[0-9a-f]{12}-[0-9a-f]{8}$/);
  expect(job.spec.activeDeadlineSeconds).toBe(DEFAULT_LIMITS.timeoutSeconds + 10);
});

/** Runs `crucible kube …` in process and answers the YAML documents it printed. */
async function kubeOutput(args: string[]): Promise<{ kind: string; [key: string]: unknown }[]> {
  return parseAllDocuments(await kubeCli(args)).map((d) => d.toJSON() as { kind: string });
}

it('kube render --kueue-queue prints the Kueue variant: the Job suspended in the LocalQueue', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-render-'));
  const file = join(dir, 'main.py');
  await writeFile(file, 'print(1)\n');
  const docs = await kubeOutput([
    'render',
    ...['--language', 'python', '--code-file', file, '--kueue-queue', 'team-a'],
    ...['--priority-class-prefix', 'crucible-'],
  ]);
  const job = docs.find((d) => d.kind === 'Job') as unknown as {
    metadata: { labels: Record<string, string> };
    spec: { suspend: boolean; template: { spec: { priorityClassName: string } } };
  };
  new Job(job as never).validate();
  expect(job.spec.suspend).toBe(true);
  expect(job.metadata.labels['kueue.x-k8s.io/queue-name']).toBe('team-a');
  expect(job.spec.template.spec.priorityClassName).toBe('crucible-normal');
});

it('kube render project prints the namespace, its isolation and its bounds, each valid', async () => {
  const { Namespace } = await import('kubernetes-models/v1/Namespace');
  const { ResourceQuota } = await import('kubernetes-models/v1/ResourceQuota');
  const { LimitRange } = await import('kubernetes-models/v1/LimitRange');
  const { NetworkPolicy } = await import('kubernetes-models/networking.k8s.io/v1/NetworkPolicy');
  const docs = await kubeOutput([
    'render',
    'project',
    ...['--id', 'p1', '--total-memory', '512', '--max-concurrent', '2', '--egress', '10.0.0.0/8'],
  ]);
  expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange']);
  const byKind = Object.fromEntries(docs.map((d) => [d.kind, d as never]));
  new Namespace(byKind['Namespace']).validate();
  new NetworkPolicy(byKind['NetworkPolicy']).validate();
  new ResourceQuota(byKind['ResourceQuota']).validate();
  new LimitRange(byKind['LimitRange']).validate();
  const namespace = byKind['Namespace'] as unknown as {
    metadata: { name: string; labels: Record<string, string> };
  };
  expect(namespace.metadata.name).toBe('proj-p1');
  expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  const policy = byKind['NetworkPolicy'] as unknown as {
    spec: { policyTypes: string[]; ingress?: unknown[]; egress: { to: { ipBlock: { cidr: string } }[] }[] };
  };
  expect(policy.spec.policyTypes).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
  expect(policy.spec.ingress ?? []).toEqual([]);
  expect(JSON.stringify(policy.spec.egress)).toContain('10.0.0.0/8');
  const quota = byKind['ResourceQuota'] as unknown as { spec: { hard: Record<string, string> } };
  expect(quota.spec.hard['pods']).toBe('2');
});
