import { Command } from 'commander';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { registerKubeCommands } from '../../src/cli/commands/kube.js';
import { DEFAULT_BOUNDS } from '../../src/core/index.js';
import { evaluationCrd, statusFor, STATUS_OUTPUT_BYTES, truncateUtf8 } from '../../src/crd/index.js';
import { validate, type Schema } from '../../testkit/fake-kube/crd-schema.js';
import { kubeCli } from '../support/kube-cli.js';

afterEach(() => vi.restoreAllMocks());

const schema = evaluationCrd().spec.versions[0]!.schema.openAPIV3Schema as unknown as Schema;
const object = (spec: Record<string, unknown>) => ({
  apiVersion: 'crucible.dev/v1alpha1',
  kind: 'Evaluation',
  metadata: { name: 'e' },
  spec,
});

describe('the Evaluation CRD', () => {
  it('validates against the official CustomResourceDefinition schema', () => {
    expect(() => new CustomResourceDefinition(evaluationCrd() as never).validate()).not.toThrow();
  });

  it('is what `crucible kube render crd` prints, with the bounds given', async () => {
    const printed = await kubeCli(['render', 'crd', '--max-timeout', '60']);
    const rendered = parse(printed) as ReturnType<typeof evaluationCrd>;
    expect(rendered).toEqual(evaluationCrd({ ...DEFAULT_BOUNDS, maxTimeoutSeconds: 60 }));
    expect(() => new CustomResourceDefinition(rendered as never).validate()).not.toThrow();
  });

  it('`kube render` without --language still says the option is required', async () => {
    const program = new Command().exitOverride();
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    registerKubeCommands(program);
    const render = program.commands[0]!.commands[0]!;
    render.exitOverride();
    await expect(
      program.parseAsync(['kube', 'render', '--code-file', 'x'], { from: 'user' }),
    ).rejects.toThrow("required option '--language <language>' not specified");
  });
});

// The schema and its CEL rules on their own (the fake API server runs exactly this on every write).
describe('the Evaluation schema and CEL rules', () => {
  it('accepts a full spec', () => {
    const spec = {
      language: 'javascript',
      code: 'console.log(1)',
      stdin: '',
      timeoutSeconds: 600,
      memoryMb: 16,
      priority: 'high',
      labels: { team: 'a', user: '' },
      webhook: { url: 'https://hooks.example.com/crucible' },
    };
    expect(validate(schema, object(spec), undefined)).toEqual([]);
  });

  it.each([
    [{ language: 'cobol', code: 'x' }, 'spec.language', 'unknown language; supported: python'],
    [
      { language: 'python', code: 'x', timeoutSeconds: 0 },
      'spec.timeoutSeconds',
      'greater than or equal to 1',
    ],
    [{ language: 'python', code: 'x', memoryMb: 5000 }, 'spec.memoryMb', 'less than or equal to 4096'],
    [{ language: 'python', code: 'x', priority: 'urgent' }, 'spec.priority', 'supported values: "low"'],
    [{ language: 'python', code: 'x', labels: { a: '-bad-' } }, 'spec.labels.a', 'should match'],
    [
      { language: 'python', code: 'x', timeoutSeconds: '5' },
      'spec.timeoutSeconds',
      'must be of type integer',
    ],
    [{ code: 'x' }, 'spec.language', 'Required value'],
    [{ language: 'python', code: 'x', webhook: {} }, 'spec.webhook.url', 'Required value'],
    [
      { language: 'python', code: 'x', webhook: { url: 'ftp://x' } },
      'spec.webhook.url',
      'webhook.url must be an absolute http:// or https:// URL',
    ],
  ])('refuses %j at %s', (spec, field, message) => {
    const causes = validate(schema, object(spec), undefined);
    expect(causes).toContainEqual(
      expect.objectContaining({ field, message: expect.stringContaining(message) }),
    );
  });

  it('refuses more than 16 labels', () => {
    const labels = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`l${i}`, 'v']));
    const causes = validate(schema, object({ language: 'python', code: 'x', labels }), undefined);
    expect(causes).toEqual([expect.objectContaining({ field: 'spec.labels', reason: 'FieldValueTooMany' })]);
  });

  it('keeps the spec immutable on update (transition rule), and does not run it on create', () => {
    const before = object({ language: 'python', code: 'print(1)' });
    const after = object({ language: 'python', code: 'print(2)' });
    expect(validate(schema, after, undefined)).toEqual([]);
    expect(validate(schema, after, before)).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec',
        message: 'Invalid value: "object": spec is immutable: delete the Evaluation and create a new one',
      },
    ]);
    expect(validate(schema, before, before)).toEqual([]);
  });
});

describe('status', () => {
  it('cuts output at 4 KiB on a character boundary', () => {
    const text = 'é'.repeat(STATUS_OUTPUT_BYTES); // 2 bytes each
    const cut = truncateUtf8(`a${text}`, STATUS_OUTPUT_BYTES);
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.text)).toBe(STATUS_OUTPUT_BYTES - 1);
    expect(cut.text.endsWith('é')).toBe(true);
    expect(truncateUtf8('short', STATUS_OUTPUT_BYTES)).toEqual({ text: 'short', truncated: false });
  });

  it('carries output only once the evaluation is terminal', () => {
    const evaluation = {
      id: 'e1',
      status: 'running',
      timings: { submittedAt: 't0', dispatchedAt: 't1', startedAt: 't2', finishedAt: null, storedAt: null },
      result: null,
    } as never;
    const status = statusFor(evaluation, 1, { stdout: 'x', stderr: '' });
    expect(status).toMatchObject({ phase: 'Running', evaluationId: 'e1', observedGeneration: 1 });
    expect(status.stdout).toBeUndefined();
  });
});
