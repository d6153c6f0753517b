import os from 'node:os';
import type { V1ResourceQuota } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KUBERNETES_DEFAULT_CONCURRENCY, ServerConfigSchema } from '../../src/config/config.js';
import { createKubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { parseQuantity, quotaConcurrency } from '../../src/runtime/kubernetes/quota.js';
import { startFakeCluster } from '../../testkit/fake-kube/index.js';
import { FAST } from './harness.js';

const footprint = { memoryBytes: 256 * 2 ** 20, cpuRequest: 0.1, cpuLimit: 1 };
const quota = (hard: Record<string, string>, scoped = false): V1ResourceQuota => ({
  spec: { hard, ...(scoped ? { scopes: ['PriorityClass'] } : {}) },
  status: { hard },
});

describe('default concurrency', () => {
  it('is the core count for local, 64 for kubernetes, and an explicit value wins', () => {
    expect(ServerConfigSchema.parse({}).concurrency).toBe(Math.max(1, os.availableParallelism()));
    const kube = ServerConfigSchema.parse({ backend: 'kubernetes' });
    expect([kube.concurrency, kube.concurrencyExplicit]).toEqual([KUBERNETES_DEFAULT_CONCURRENCY, false]);
    expect(KUBERNETES_DEFAULT_CONCURRENCY).toBe(64);
    const explicit = ServerConfigSchema.parse({ backend: 'kubernetes', concurrency: '8' });
    expect([explicit.concurrency, explicit.concurrencyExplicit]).toEqual([8, true]);
  });

  it('parses Kubernetes quantities', () => {
    expect([parseQuantity('4Gi'), parseQuantity('500m'), parseQuantity('2'), parseQuantity('1e3')]).toEqual([
      4 * 2 ** 30,
      0.5,
      2,
      1000,
    ]);
    expect(parseQuantity('lots')).toBeNull();
  });

  it('fits the tightest hard limit of the namespace quotas', () => {
    expect(quotaConcurrency([], footprint)).toBeNull();
    expect(quotaConcurrency([quota({ pods: '10' })], footprint)).toBe(10);
    expect(quotaConcurrency([quota({ 'count/pods': '7', 'requests.memory': '4Gi' })], footprint)).toBe(7);
    // 4 GiB of requests at 256 MiB per pod: 16; 3 CPUs of limits at 1 per pod: 3.
    expect(quotaConcurrency([quota({ 'requests.memory': '4Gi' })], footprint)).toBe(16);
    expect(quotaConcurrency([quota({ pods: '50' }), quota({ 'limits.cpu': '3' })], footprint)).toBe(3);
    // Scoped quotas apply to other pods only; unrelated resources do not bound pods.
    expect(quotaConcurrency([quota({ pods: '2' }, true), quota({ secrets: '5' })], footprint)).toBeNull();
  });

  it('the runtime reads the namespace quota when it starts', async () => {
    const cluster = await startFakeCluster();
    try {
      const options = { ...FAST, kubeconfigPath: cluster.kubeconfigPath };
      const unbounded = await createKubernetesRuntime(options);
      expect(unbounded.suggestedConcurrency(256)).toBeNull();
      await unbounded.close();
      const hard = { pods: '12', 'requests.memory': '2Gi' };
      cluster.store.create('resourcequotas', 'crucible-test', {
        metadata: { name: 'evaluations' },
        spec: { hard },
        status: { hard, used: { pods: '0' } },
      });
      const bounded = await createKubernetesRuntime(options);
      expect([bounded.suggestedConcurrency(256), bounded.suggestedConcurrency(64)]).toEqual([8, 12]);
      await bounded.close();
    } finally {
      await cluster.close();
    }
  });
});
