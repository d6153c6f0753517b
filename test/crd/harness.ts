import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  createEvaluationApi,
  EvaluationController,
  evaluationCrd,
  type EvaluationApi,
} from '../../src/crd/index.js';
import { startFakeApiServer, type FakeApiOnly } from '../../testkit/fake-kube/index.js';
import type { KObject, Resource } from '../../testkit/fake-kube/store.js';
import { FakeRuntime, type FakeRuntimeOptions } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const run = promisify(execFile);

export const NAMESPACE = 'crucible-test';
/** Where the fake keeps Evaluation objects (custom resources are keyed by group and plural). */
export const EVALUATIONS = 'cr:crucible.dev/evaluations' as Resource;

/** The real kubectl, or null (then the kubectl tests skip, except on CI where a missing kubectl fails). */
export const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p)) ?? null;

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CrdHarness {
  readonly api: FakeApiOnly;
  readonly runtime: FakeRuntime;
  readonly crucible: InProcess;
  controller: EvaluationController;
  /** Starts another controller (after `controller.stop()`): a restart of the leader. */
  restartController(): Promise<EvaluationController>;
  kubectl(args: string[], stdin?: string): Promise<KubectlResult>;
  /** Writes `yaml` to a file and runs `kubectl apply -f` on it. */
  apply(yaml: string): Promise<KubectlResult>;
  object(name: string): KObject | undefined;
  /** Resolves with the object once `test` holds for it (checked on every change of the fake's store). */
  until(name: string, test: (o: KObject | undefined) => boolean): Promise<KObject | undefined>;
  close(): Promise<void>;
}

export function evaluationYaml(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'crucible.dev/v1alpha1',
    kind: 'Evaluation',
    metadata: { name },
    spec,
  });
}

/**
 * The fake API server with the Evaluation CRD installed, the real service around a scripted runtime, and the
 * controller reconciling the test namespace over real HTTP through @kubernetes/client-node.
 */
export async function startCrdHarness(script?: FakeRuntimeOptions['script']): Promise<CrdHarness> {
  const api = await startFakeApiServer();
  const created = await fetch(`${api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(evaluationCrd()),
  });
  if (created.status !== 201)
    throw new Error(`installing the CRD: ${created.status} ${await created.text()}`);
  const runtime = new FakeRuntime(script ? { script } : {});
  const crucible = await inProcess({ runtime });
  const clients: EvaluationApi[] = [];
  const newController = async () => {
    const client = await createEvaluationApi(api.kubeconfigPath);
    clients.push(client);
    const controller = new EvaluationController({
      service: crucible.service,
      api: client,
      namespaces: [NAMESPACE],
      log: crucible.log,
    });
    await controller.start();
    return controller;
  };
  let files = 0;
  const harness: CrdHarness = {
    api,
    runtime,
    crucible,
    controller: await newController(),
    async restartController() {
      harness.controller = await newController();
      return harness.controller;
    },
    async kubectl(args) {
      try {
        const { stdout, stderr } = await run(KUBECTL!, ['--kubeconfig', api.kubeconfigPath, ...args], {
          timeout: 30_000,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code?: number; stdout?: string; stderr?: string };
        return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
      }
    },
    async apply(yaml) {
      const file = join(dirname(api.kubeconfigPath), `evaluation-${(files += 1)}.yaml`);
      await writeFile(file, yaml);
      return harness.kubectl(['apply', '-f', file]);
    },
    object: (name) => api.store.get(EVALUATIONS, NAMESPACE, name),
    until(name, test) {
      return new Promise((resolve) => {
        const check = () => {
          const found = harness.object(name);
          if (!test(found)) return false;
          unsubscribe();
          resolve(found);
          return true;
        };
        const unsubscribe = api.store.subscribe(() => void check());
        check();
      });
    },
    async close() {
      await harness.controller.stop();
      await crucible.close();
      await Promise.all(clients.map((c) => c.close()));
      await api.close();
    },
  };
  return harness;
}
