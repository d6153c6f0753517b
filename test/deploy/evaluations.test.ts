import type {
  V1Job,
  V1LimitRange,
  V1Namespace,
  V1NetworkPolicy,
  V1PriorityClass,
  V1ResourceQuota,
  V1RuntimeClass,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { PRIORITIES, type Priority } from '../../src/core/index.js';
import {
  buildEvaluationManifests,
  buildNamespaceManifests,
  parseKubernetesOptions,
} from '../../src/runtime/kubernetes/index.js';
import { parseQuantity, quotaConcurrency } from '../../src/runtime/kubernetes/quota.js';
import { request } from '../runtime/tracked.js';
import { restrictedViolations } from './pod-security.js';
import { describeWithKubectl, named, ofKind, OVERLAYS, renderOverlay, type KubeObject } from './render.js';
import { serverConfigOf } from './server-config.js';

const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
};

/** The Job the server would create in this overlay for an evaluation at the given memory limit. */
function evaluationJob(
  objects: readonly KubeObject[],
  memoryMb: number,
  priority: Priority = 'normal',
): V1Job {
  const config = serverConfigOf(objects);
  const options = parseKubernetesOptions({
    namespace: config.kubernetes.namespace,
    ...(config.kubernetes.runnerImage ? { runnerImage: config.kubernetes.runnerImage } : {}),
    ...(config.kubernetes.runtimeClassName ? { runtimeClassName: config.kubernetes.runtimeClassName } : {}),
    ...(config.kubernetes.priorityClassPrefix
      ? { priorityClassPrefix: config.kubernetes.priorityClassPrefix }
      : {}),
  });
  const run = request('print(1)', { priority, limits: { memoryMb } });
  return buildEvaluationManifests(run, options).job;
}

const quantity = (text: string | undefined) => (text === undefined ? undefined : parseQuantity(text)!);

describeWithKubectl('the evaluation namespace', () => {
  for (const overlay of OVERLAYS) {
    describe(overlay, () => {
      let objects: KubeObject[];
      let namespace: string;
      beforeAll(async () => {
        objects = await renderOverlay(overlay);
        namespace = serverConfigOf(objects).kubernetes.namespace;
      });
      const inNamespace = <T>(kind: string) =>
        ofKind<T & KubeObject>(objects, kind).filter((o) => o.metadata.namespace === namespace);

      it("is the server's namespace, and it and the server's own enforce the restricted standard", () => {
        expect(namespace).toBe('crucible-evaluations');
        const apiNamespace = named<KubeObject>(objects, 'Deployment', 'crucible').metadata.namespace!;
        for (const name of [namespace, apiNamespace]) {
          expect(named<V1Namespace>(objects, 'Namespace', name).metadata!.labels).toMatchObject(RESTRICTED);
        }
      });

      it('admits the Jobs the server creates there under the restricted standard', () => {
        const job = evaluationJob(objects, serverConfigOf(objects).limits.memoryMb);
        expect(job.metadata!.namespace).toBe(namespace);
        expect(restrictedViolations(job.spec!.template.spec!)).toEqual([]);
      });

      it('ships the default-deny policy the server ensures, unchanged', () => {
        const [expected] = buildNamespaceManifests({ namespace });
        const shipped = named<V1NetworkPolicy>(objects, 'NetworkPolicy', expected!.metadata!.name!);
        expect(shipped.metadata!.namespace).toBe(namespace);
        expect(shipped.metadata!.labels).toMatchObject(expected!.metadata!.labels!);
        expect(shipped.spec).toEqual(expected!.spec);
        expect(shipped.spec!.ingress ?? []).toEqual([]);
        expect(shipped.spec!.egress ?? []).toEqual([]);
      });

      it('bounds every container the server creates within the LimitRange, at each memory bound', () => {
        const [limitRange] = inNamespace<V1LimitRange>('LimitRange');
        const bounds = limitRange!.spec!.limits.find((l) => l.type === 'Container')!;
        const { minMemoryMb, maxMemoryMb } = serverConfigOf(objects).bounds;
        for (const memoryMb of [minMemoryMb, maxMemoryMb]) {
          const pod = evaluationJob(objects, memoryMb).spec!.template.spec!;
          for (const container of [...pod.initContainers!, ...pod.containers]) {
            for (const resource of ['cpu', 'memory']) {
              const min = quantity(bounds.min?.[resource]) ?? 0;
              const max = quantity(bounds.max?.[resource]) ?? Infinity;
              for (const value of [
                container.resources!.requests![resource],
                container.resources!.limits![resource],
              ]) {
                const where = `${container.name} ${resource} ${value} at ${memoryMb} MiB`;
                expect(quantity(value), where).toBeGreaterThanOrEqual(min);
                expect(quantity(value), where).toBeLessThanOrEqual(max);
              }
            }
          }
        }
      });

      it('has a quota on pods that still admits the largest evaluation allowed', () => {
        const quotas = inNamespace<V1ResourceQuota>('ResourceQuota');
        expect(quotas).toHaveLength(1);
        expect(Object.keys(quotas[0]!.spec!.hard!)).toEqual(expect.arrayContaining(['pods']));
        const options = parseKubernetesOptions({});
        const footprint = (memoryMb: number) => ({
          memoryBytes: memoryMb * 2 ** 20,
          cpuRequest: parseQuantity(options.cpuRequest)!,
          cpuLimit: parseQuantity(options.cpuLimit)!,
        });
        const config = serverConfigOf(objects);
        expect(quotaConcurrency(quotas, footprint(config.bounds.maxMemoryMb))).toBeGreaterThanOrEqual(1);
        // The concurrency the server will derive from it: the pod count is the binding limit, as documented.
        expect(quotaConcurrency(quotas, footprint(config.limits.memoryMb))).toBe(
          Number(quotas[0]!.spec!.hard!['pods']),
        );
      });

      it('gives the namespace default account no token', () => {
        const account = named<V1ServiceAccount>(objects, 'ServiceAccount', 'default');
        expect(account.metadata!.namespace).toBe(namespace);
        expect(account.automountServiceAccountToken).toBe(false);
      });

      it('has a never-preempting PriorityClass per priority, and any class a Job names exists', () => {
        const classes = ofKind<V1PriorityClass>(objects, 'PriorityClass');
        const byPriority = PRIORITIES.map((p) => classes.find((c) => c.metadata!.name === `crucible-${p}`));
        expect(byPriority.every((c) => c?.preemptionPolicy === 'Never' && !c.globalDefault)).toBe(true);
        // low < normal < high, so the scheduler's queue orders pods as Crucible's own queue does.
        const values = byPriority.map((c) => c!.value!);
        expect(new Set(values).size).toBe(values.length);
        expect(values).toEqual([...values].sort((a, b) => a - b));
        for (const priority of PRIORITIES) {
          const named = evaluationJob(objects, 256, priority).spec!.template.spec!.priorityClassName;
          expect(named).toBe(`crucible-${priority}`);
          expect(classes.map((c) => c.metadata!.name)).toContain(named);
        }
      });

      it('has the gVisor RuntimeClass, and the class the server puts on its pods exists', () => {
        const gvisor = named<V1RuntimeClass>(objects, 'RuntimeClass', 'gvisor');
        expect(gvisor.handler).toBe('runsc');
        const runtimeClass = evaluationJob(objects, 256).spec!.template.spec!.runtimeClassName;
        if (overlay === 'production') expect(runtimeClass).toBe('gvisor');
        if (runtimeClass)
          expect(ofKind<V1RuntimeClass>(objects, 'RuntimeClass').map((r) => r.metadata!.name)).toContain(
            runtimeClass,
          );
      });
    });
  }
});
