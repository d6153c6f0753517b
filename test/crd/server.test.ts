import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerConfigSchema, configFromEnv } from '../../src/config/index.js';
import { evaluationCrd, mirrorNameOf } from '../../src/crd/index.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { MemoryLogger } from '../support/in-process.js';
import { EVALUATIONS, evaluationYaml, KUBECTL, NAMESPACE } from './harness.js';

const run = promisify(execFile);

/**
 * The composition root with `CRUCIBLE_CRD=on`: the Kubernetes backend on the fake cluster (whose kubelet runs
 * the real runner in the local sandbox), the controller started with the work, an Evaluation applied with
 * the real kubectl.
 */
describe.skipIf(!KUBECTL)('crucible serve with CRUCIBLE_CRD=on', () => {
  let cluster: FakeCluster;
  let server: RunningServer;
  let dataDir: string;
  const log = new MemoryLogger();

  beforeAll(async () => {
    cluster = await startFakeCluster();
    dataDir = await mkdtemp(join(tmpdir(), 'crucible-crd-'));
    const crd = join(dataDir, 'crd.json');
    await writeFile(crd, JSON.stringify(evaluationCrd()));
    await run(KUBECTL!, ['--kubeconfig', cluster.kubeconfigPath, 'create', '-f', crd]);
    const env = configFromEnv({ CRUCIBLE_CRD: 'on', CRUCIBLE_K8S_NAMESPACE: NAMESPACE });
    const config = ServerConfigSchema.parse({
      ...env,
      backend: 'kubernetes',
      port: 0,
      dataDir,
      concurrency: 2,
      kubernetes: { ...env.kubernetes, kubeconfig: cluster.kubeconfigPath },
    });
    expect(config.crd).toEqual({ enabled: true });
    server = await startServer(config, log);
  });

  afterAll(async () => {
    await server?.close();
    await cluster?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('an applied Evaluation runs as a Job and its real output lands in status', async () => {
    const file = join(dataDir, 'hello.json');
    const code = 'import sys\nprint("from a pod")\nprint("to stderr", file=sys.stderr)';
    await writeFile(file, evaluationYaml('hello', { language: 'python', code }));
    await run(KUBECTL!, ['--kubeconfig', cluster.kubeconfigPath, 'apply', '-f', file]);
    const done = await new Promise<Record<string, unknown> | undefined>((resolve) => {
      const check = () => {
        const status = cluster.store.get(EVALUATIONS, NAMESPACE, 'hello')?.status;
        if (status?.['phase'] !== 'Succeeded') return;
        unsubscribe();
        resolve(status);
      };
      const unsubscribe = cluster.store.subscribe(check);
      check();
    });
    expect(done).toMatchObject({ exitCode: 0, stdout: 'from a pod\n', stderr: 'to stderr\n' });
    const evaluation = await server.service.get(String(done?.['evaluationId']));
    expect(evaluation.runtime).toBe('kubernetes');
    expect(log.lines.map((l) => l.message)).toContain(`reconciling Evaluation objects in ${NAMESPACE}`);
    // Evaluations submitted over HTTP are not mirrored as objects.
    const response = await fetch(`${server.url}/v1/evaluations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'bash', code: 'echo http' }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    expect((await server.service.wait(id, 30_000)).status).toBe('succeeded');
    expect(cluster.store.list(EVALUATIONS, NAMESPACE).map((o) => o.metadata.name)).toEqual(['hello']);
  });

  it('an HTTP submission that asks (?mirror=) is shown as an Evaluation object; kubectl delete cancels it', async () => {
    const post = (query: string, body: object) =>
      fetch(`${server.url}/v1/evaluations${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const refused = await post('?mirror=elsewhere', { language: 'bash', code: 'echo x' });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { field: 'mirror' } });

    const response = await post(`?mirror=${NAMESPACE}`, { language: 'bash', code: 'echo mirrored' });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const name = mirrorNameOf(id);
    const status = await new Promise<Record<string, unknown> | undefined>((resolve) => {
      const check = () => {
        const found = cluster.store.get(EVALUATIONS, NAMESPACE, name)?.status;
        if (found?.['phase'] !== 'Succeeded') return;
        unsubscribe();
        resolve(found);
      };
      const unsubscribe = cluster.store.subscribe(check);
      check();
    });
    expect(status).toMatchObject({ evaluationId: id, exitCode: 0, stdout: 'mirrored\n' });
    const object = cluster.store.get(EVALUATIONS, NAMESPACE, name)!;
    expect(object.spec).toEqual({ language: 'bash', code: 'echo mirrored' });
    // It was followed, not run again: still one evaluation.
    expect((await server.service.list({ limit: 100 })).items.filter((e) => e.id === id)).toHaveLength(1);

    const running = await post(`?mirror=${NAMESPACE}`, { language: 'bash', code: 'sleep 30' });
    const runningId = ((await running.json()) as { id: string }).id;
    await expect
      .poll(async () => (await server.service.get(runningId)).status, { timeout: 30_000 })
      .toBe('running');
    await run(KUBECTL!, [
      '--kubeconfig',
      cluster.kubeconfigPath,
      '-n',
      NAMESPACE,
      'delete',
      'evaluation',
      mirrorNameOf(runningId),
    ]);
    expect((await server.service.wait(runningId, 30_000)).status).toBe('cancelled');
  });
});
