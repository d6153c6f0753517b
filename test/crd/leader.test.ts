import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ServerConfigSchema } from '../../src/config/index.js';
import { evaluationCrd } from '../../src/crd/index.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import type { KObject } from '../../testkit/fake-kube/store.js';
import { MemoryLogger } from '../support/in-process.js';
import { describePostgres, type TestDatabase } from '../support/postgres.js';
import { EVALUATIONS, evaluationYaml, KUBECTL, NAMESPACE } from './harness.js';

const run = promisify(execFile);
const RECONCILING = `reconciling Evaluation objects in ${NAMESPACE}`;

/**
 * Two replicas with `--crd` on one PostgreSQL store and one (fake) cluster: only the leader reconciles
 * Evaluation objects; when it stops, the other wins the Lease and takes the controller over.
 */
describePostgres('the Evaluation controller under leader election', (database: () => TestDatabase) => {
  let cluster: FakeCluster;
  let dir: string;
  const replicas: { server: RunningServer; log: MemoryLogger }[] = [];

  const kubectl = (...args: string[]) => run(KUBECTL!, ['--kubeconfig', cluster.kubeconfigPath, ...args]);
  const until = (name: string, test: (o: KObject | undefined) => boolean) =>
    new Promise<KObject | undefined>((resolve) => {
      const check = () => {
        const found = cluster.store.get(EVALUATIONS, NAMESPACE, name);
        if (!test(found)) return;
        unsubscribe();
        resolve(found);
      };
      const unsubscribe = cluster.store.subscribe(check);
      check();
    });
  const apply = async (name: string) => {
    const file = join(dir, `${name}.json`);
    await writeFile(file, evaluationYaml(name, { language: 'bash', code: `echo ${name}` }));
    await kubectl('apply', '-f', file);
    return until(name, (o) => o?.status?.['phase'] === 'Succeeded');
  };

  beforeAll(async () => {
    cluster = await startFakeCluster();
    dir = await mkdtemp(join(tmpdir(), 'crucible-crd-leader-'));
    await writeFile(join(dir, 'crd.json'), JSON.stringify(evaluationCrd()));
    await kubectl('create', '-f', join(dir, 'crd.json'));
    for (const name of ['replica-a', 'replica-b']) {
      const log = new MemoryLogger();
      const config = ServerConfigSchema.parse({
        backend: 'kubernetes',
        store: database().url,
        replicaId: name,
        leaseSeconds: 2,
        port: 0,
        dataDir: join(dir, name),
        concurrency: 2,
        kubernetes: { kubeconfig: cluster.kubeconfigPath, namespace: NAMESPACE },
        crd: { enabled: true },
      });
      replicas.push({ server: await startServer(config, log), log });
    }
  }, 60_000);

  afterAll(async () => {
    for (const { server } of replicas) await server.close();
    await cluster?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!KUBECTL)(
    'only the leader reconciles; the next leader takes over',
    async () => {
      const first = await apply('first');
      expect(first?.status?.['stdout']).toBe('first\n');
      const reconciling = replicas.filter(({ log }) => log.lines.some((l) => l.message === RECONCILING));
      expect(reconciling).toHaveLength(1);
      const leader = reconciling[0]!;
      const follower = replicas.find((r) => r !== leader)!;

      await leader.server.close();
      const second = await apply('second');
      expect(second?.status?.['stdout']).toBe('second\n');
      expect(follower.log.lines.map((l) => l.message)).toContain(RECONCILING);
      // The first object was not submitted again by the new leader.
      const { items } = await follower.server.service.list({ limit: 10 });
      expect(items.map((e) => e.code).sort()).toEqual(['echo first', 'echo second']);
    },
    60_000,
  );
});
