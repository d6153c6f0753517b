import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterEach, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { registerKubeCommands } from '../../src/cli/commands/kube.js';
import { DEFAULT_LIMITS } from '../../src/core/index.js';

afterEach(() => vi.restoreAllMocks());

it('kube render prints every object as YAML', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-render-'));
  const file = join(dir, 'main.py');
  await writeFile(file, 'print(1)\n');
  const chunks: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  });
  const program = new Command().exitOverride();
  registerKubeCommands(program);
  await program.parseAsync(
    [
      'kube',
      'render',
      '--language',
      'python',
      '--code-file',
      file,
      '--namespace',
      'evals',
      '--runtime-class',
      'gvisor',
      '--timeout',
      '5',
      '--memory',
      '64',
    ],
    { from: 'user' },
  );
  const docs = parseAllDocuments(chunks.join('')).map(
    (d) => d.toJSON() as { kind: string; metadata: { namespace: string } },
  );
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
