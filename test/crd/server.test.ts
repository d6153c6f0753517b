import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerConfigSchema, configFromEnv } from '../../src/config/index.js';
import { evaluationCrd } from '../../src/crd/index.js';
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
});
