import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CANCEL_FINALIZER, evaluationCrd, STATUS_OUTPUT_BYTES } from '../../src/crd/index.js';
import { startFakeApiServer } from '../../testkit/fake-kube/index.js';
import type { FakeRun } from '../support/fake-runtime.js';
import { evaluationYaml, KUBECTL, startCrdHarness, type CrdHarness } from './harness.js';

const run = promisify(execFile);
const missing = KUBECTL ? null : 'kubectl is not installed';
if (missing && process.env.CI) throw new Error(`${missing}: the CRD tests need the real kubectl on CI`);

const phaseIs =
  (...phases: string[]) =>
  (o: { status?: Record<string, unknown> } | undefined) =>
    phases.includes(String(o?.status?.['phase']));

describe.skipIf(missing)('Evaluation objects driven with the real kubectl (fake API server)', () => {
  let harness: CrdHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('the CRD as `crucible kube render crd` prints it installs with kubectl apply', async () => {
    const api = await startFakeApiServer();
    try {
      const file = join(dirname(api.kubeconfigPath), 'crd.yaml');
      await writeFile(file, stringify(evaluationCrd(), { lineWidth: 0 }));
      const kubectl = (...args: string[]) =>
        run(KUBECTL!, ['--kubeconfig', api.kubeconfigPath, ...args]).then((r) => r.stdout);
      expect(await kubectl('apply', '-f', file)).toBe(
        'customresourcedefinition.apiextensions.k8s.io/evaluations.crucible.dev created\n',
      );
      expect(await kubectl('get', 'crd', '-o', 'name')).toBe(
        'customresourcedefinition.apiextensions.k8s.io/evaluations.crucible.dev\n',
      );
      expect(await kubectl('api-resources', '--api-group', 'crucible.dev', '--no-headers')).toMatch(
        /^evaluations\s+eval\s+crucible\.dev\/v1alpha1\s+true\s+Evaluation\n$/,
      );
    } finally {
      await api.close();
    }
  });

  it('kubectl apply runs the evaluation: Succeeded, exit code and stdout in status', async () => {
    harness = await startCrdHarness((run) => {
      run.print('hello from the sandbox\n');
      run.print('a warning\n', 'stderr');
      void run.exit(0);
    });
    const applied = await harness.apply(evaluationYaml('hello', { language: 'python', code: 'print(1)' }));
    expect(applied).toMatchObject({ code: 0, stdout: 'evaluation.crucible.dev/hello created\n' });
    const done = await harness.until('hello', phaseIs('Succeeded'));
    expect(done?.status).toMatchObject({
      phase: 'Succeeded',
      exitCode: 0,
      stdout: 'hello from the sandbox\n',
      stderr: 'a warning\n',
      stdoutTruncated: false,
      observedGeneration: 1,
    });
    const evaluation = await harness.crucible.service.get(String(done?.status?.['evaluationId']));
    expect(evaluation).toMatchObject({ status: 'succeeded', language: 'python', code: 'print(1)' });
    expect(done?.metadata.finalizers).toEqual([CANCEL_FINALIZER]);

    const listed = await harness.kubectl(['get', 'evaluations']);
    expect(listed.code).toBe(0);
    const [header, row] = listed.stdout.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'PHASE', 'EXIT', 'DURATION', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 3)).toEqual(['hello', 'Succeeded', '0']);
    expect(row?.split(/\s+/)[3]).toMatch(/^\d+(\.\d)?m?s$/);
    const jsonPath = await harness.kubectl(['get', 'eval', 'hello', '-o', 'jsonpath={.status.stdout}']);
    expect(jsonPath.stdout).toBe('hello from the sandbox\n');
  });

  it('caps stdout in status at 4 KiB and says so; the whole output stays in Crucible', async () => {
    const big = 'x'.repeat(STATUS_OUTPUT_BYTES + 100);
    harness = await startCrdHarness((run) => {
      run.print(big);
      void run.exit(3);
    });
    await harness.apply(evaluationYaml('big', { language: 'bash', code: 'yes' }));
    const done = await harness.until('big', phaseIs('Failed'));
    expect(done?.status).toMatchObject({ exitCode: 3, stdoutTruncated: true, reason: 'exit_code' });
    expect(String(done?.status?.['stdout'])).toHaveLength(STATUS_OUTPUT_BYTES);
    const { stdout } = await harness.crucible.service.withOutput(
      await harness.crucible.service.get(String(done?.status?.['evaluationId'])),
    );
    expect(stdout).toBe(big);
  });

  it('an invalid spec is refused by the API server with the reason, as kubectl shows it', async () => {
    harness = await startCrdHarness();
    const unknown = await harness.apply(evaluationYaml('cobol', { language: 'cobol', code: 'x' }));
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain(
      'The Evaluation "cobol" is invalid: spec.language: Invalid value: "string": unknown language; supported: python, javascript',
    );
    const slow = await harness.apply(
      evaluationYaml('slow', { language: 'python', code: 'x', timeoutSeconds: 9999 }),
    );
    expect(slow.stderr).toContain(
      'spec.timeoutSeconds: Invalid value: 9999: spec.timeoutSeconds in body should be less than or equal to 600',
    );
    const noCode = await harness.apply(evaluationYaml('nocode', { language: 'python' }));
    expect(noCode.stderr).toContain('spec.code: Required value');
    const typo = await harness.apply(evaluationYaml('typo', { language: 'python', code: 'x', timeout: 5 }));
    expect(typo.stderr).toContain('strict decoding error: unknown field "spec.timeout"');
    expect(harness.object('typo')).toBeUndefined();
    expect(harness.object('cobol')).toBeUndefined();
    expect(harness.object('slow')).toBeUndefined();
    expect((await harness.crucible.service.list({ limit: 10 })).items).toHaveLength(0);
  });

  it('the spec cannot change after create (CEL transition rule self == oldSelf)', async () => {
    harness = await startCrdHarness();
    await harness.apply(evaluationYaml('fixed', { language: 'python', code: 'print(1)' }));
    await harness.until('fixed', phaseIs('Succeeded'));
    const changed = await harness.apply(evaluationYaml('fixed', { language: 'python', code: 'print(2)' }));
    expect(changed.code).not.toBe(0);
    expect(changed.stderr).toContain(
      'The Evaluation "fixed" is invalid: spec: Invalid value: "object": spec is immutable: delete the Evaluation and create a new one',
    );
    expect(harness.object('fixed')?.spec).toMatchObject({ code: 'print(1)' });
    const again = await harness.apply(evaluationYaml('fixed', { language: 'python', code: 'print(1)' }));
    expect(again).toMatchObject({ code: 0, stdout: 'evaluation.crucible.dev/fixed unchanged\n' });
  });

  it('kubectl delete of a running Evaluation cancels it', async () => {
    let running: FakeRun | undefined;
    harness = await startCrdHarness((run) => {
      running = run;
    });
    await harness.apply(evaluationYaml('forever', { language: 'python', code: 'while True: pass' }));
    const seen = await harness.until('forever', phaseIs('Running'));
    const id = String(seen?.status?.['evaluationId']);
    const deleted = await harness.kubectl(['delete', 'evaluation', 'forever']);
    expect(deleted).toMatchObject({ code: 0, stdout: 'evaluation.crucible.dev "forever" deleted\n' });
    expect(harness.object('forever')).toBeUndefined();
    expect((await harness.crucible.service.get(id)).status).toBe('cancelled');
    expect(running?.alive).toBe(false);
  });

  it('an Evaluation deleted while the controller is down is cancelled when it is back (finalizer)', async () => {
    harness = await startCrdHarness(() => undefined);
    await harness.apply(evaluationYaml('orphan', { language: 'python', code: 'while True: pass' }));
    const seen = await harness.until('orphan', phaseIs('Running'));
    await harness.controller.stop();
    const deleted = await harness.kubectl(['delete', 'evaluation', 'orphan', '--wait=false']);
    expect(deleted.code).toBe(0);
    // Held by the finalizer: the API server only marked it.
    expect(harness.object('orphan')?.metadata.deletionTimestamp).toBeDefined();
    await harness.restartController();
    await harness.until('orphan', (o) => o === undefined);
    expect((await harness.crucible.service.get(String(seen?.status?.['evaluationId']))).status).toBe(
      'cancelled',
    );
  });

  it('keeps reconciling after its watch is cut and the history it resumes from is gone (410 → relist)', async () => {
    harness = await startCrdHarness();
    await harness.apply(evaluationYaml('before', { language: 'python', code: 'print(1)' }));
    await harness.until('before', phaseIs('Succeeded'));
    const requests = harness.api.server.customResources.requests;
    const listsBefore = requests.lists;
    // Synchronously: a write the watch does not carry, then compaction, so its resourceVersion is too old.
    harness.api.store.create('configmaps', 'elsewhere', { metadata: { name: 'unrelated' } });
    harness.api.store.compact();
    harness.api.server.customResources.closeWatches();
    await harness.apply(evaluationYaml('after', { language: 'python', code: 'print(2)' }));
    expect((await harness.until('after', phaseIs('Succeeded')))?.status?.['stdout']).toBe('print(2)');
    expect((await harness.crucible.service.list({ limit: 10 })).items).toHaveLength(2);
    expect(requests.expired).toBeGreaterThanOrEqual(1);
    expect(requests.lists).toBeGreaterThan(listsBefore);
  });

  it('a status write that loses the resourceVersion race (409) is re-read and retried', async () => {
    let running: FakeRun | undefined;
    harness = await startCrdHarness((run) => {
      running = run;
    });
    await harness.apply(evaluationYaml('racy', { language: 'python', code: 'print(1)' }));
    await harness.until('racy', phaseIs('Running'));
    // The last write (nothing comes after it to try again) meets three conflicts in a row.
    const resources = harness.api.server.customResources;
    resources.failStatusWrites = 3;
    const conflictsBefore = resources.requests.conflicts;
    running!.print('done\n');
    await running!.exit(0);
    const done = await harness.until('racy', phaseIs('Succeeded'));
    expect(done?.status).toMatchObject({ exitCode: 0, stdout: 'done\n' });
    expect(resources.requests.conflicts - conflictsBefore).toBe(3);
  });

  it('a controller restarted before it wrote the status does not submit twice (idempotency on uid)', async () => {
    harness = await startCrdHarness();
    const h = harness;
    const resources = h.api.server.customResources;
    resources.failStatusWrites = Number.MAX_SAFE_INTEGER;
    await h.apply(evaluationYaml('once', { language: 'python', code: 'print(1)' }));
    // The first controller submitted and added its finalizer, but every status write failed.
    await h.until('once', (o) => (o?.metadata.finalizers ?? []).length > 0);
    await h.controller.stop();
    expect(h.object('once')?.status).toBeUndefined();
    resources.failStatusWrites = 0;
    await h.restartController();
    const done = await h.until('once', phaseIs('Succeeded'));
    expect(h.runtime.started).toEqual([done?.status?.['evaluationId']]);
    expect((await h.crucible.service.list({ limit: 10 })).items).toHaveLength(1);
  });
});
