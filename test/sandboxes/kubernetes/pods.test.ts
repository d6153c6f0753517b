import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentClient } from '../../../src/runtime/sandbox/agent-client.js';
import { findLanguage } from '../../../src/core/index.js';
import { sandboxSpec } from '../runtime-conformance.js';
import {
  NAMESPACE,
  podsGone,
  podsOf,
  skipReason,
  startKubeSandboxes,
  type KubeSandboxEnv,
} from './harness.js';

let env: KubeSandboxEnv;
beforeAll(async () => {
  if (!skipReason) env = await startKubeSandboxes({ runtimeClassName: 'gvisor' });
}, 60_000);
afterAll(() => env?.close());

async function echo(client: AgentClient, script: string): Promise<string> {
  const out: Buffer[] = [];
  await client.exec({ argv: ['/bin/sh', '-c', script], timeoutMs: 10_000 }, (s, d) => {
    if (s === 'stdout') out.push(d);
  });
  return Buffer.concat(out).toString();
}

describe.skipIf(skipReason !== null)('Kubernetes sandbox pods (fake API server)', () => {
  it('is a bare pod locked down like an evaluation pod, with a capped memory-backed /workspace', async () => {
    const instance = await env.runtime.create(
      sandboxSpec('locked', {
        labels: { user: 'ada', team: 'ml' },
        limits: { ...sandboxSpec('x').limits, cpus: 2 },
      }),
    );
    const [pod] = podsOf(env.cluster, 'locked') as [V1Pod];
    expect(pod.metadata?.ownerReferences).toBeUndefined();
    expect(pod.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'crucible',
      'crucible.dev/sandbox': 'locked',
      'crucible.dev/user': 'ada',
      'cost.crucible.dev/team': 'ml',
    });
    const spec = pod.spec!;
    expect(spec).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      runtimeClassName: 'gvisor',
      securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
    });
    const main = spec.containers[0]!;
    expect(main.image).toBe(findLanguage('python')!.image);
    expect(main.command).toEqual(['/crucible/bin/crucible-runner', 'idle']);
    expect(main.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(main.resources).toEqual({
      requests: { cpu: '100m', memory: '256Mi' },
      limits: { cpu: '2000m', memory: '256Mi' },
    });
    expect(spec.volumes).toContainEqual({
      name: 'workspace',
      emptyDir: { medium: 'Memory', sizeLimit: '64Mi' },
    });
    expect(spec.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '16Mi' } });
    // The namespace denies all traffic: the agent is reached through the API server, not the pod network.
    const policy = env.cluster.store.get(
      'networkpolicies',
      NAMESPACE,
      'crucible-default-deny',
    ) as V1NetworkPolicy;
    expect(policy.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // The workspace is capped: a write past workspaceMb fails inside the sandbox.
    const client = await instance.connect();
    expect(await echo(client, 'head -c 70000000 /dev/zero > big 2>&1 || echo refused')).toMatch(/refused/);
    await instance.destroy();
  });

  it('waits for the pod by watching it (no list, no repeated read) and deletes it on destroy', async () => {
    const before = { ...env.cluster.server.requests };
    const instance = await env.runtime.create(sandboxSpec('watched'));
    expect(env.cluster.server.requests.lists).toBe(before.lists);
    expect(env.cluster.server.requests.watches).toBeGreaterThan(before.watches);
    expect(podsOf(env.cluster, 'watched')[0]?.status?.phase).toBe('Running');
    await instance.destroy();
    await instance.destroy();
    await podsGone(env.cluster, 'watched');
  });

  it('a dropped exec connection: connect() runs a fresh agent with the same env and workspace', async () => {
    const instance = await env.runtime.create(sandboxSpec('reconnect'));
    const first = await instance.connect();
    await first.writeFile('kept.txt', Buffer.from('still here\n'));
    const served = env.cluster.server.exec.served;
    env.cluster.server.exec.dropAll();
    await first.closed;
    const [second, same] = await Promise.all([instance.connect(), instance.connect()]);
    expect(same).toBe(second);
    expect(second).not.toBe(first);
    expect(env.cluster.server.exec.served).toBe(served + 1);
    expect(await echo(second, 'echo $GREETING; cat kept.txt seed/hello.txt')).toBe(
      'hello\nstill here\nseeded\n',
    );
    expect(await instance.connect()).toBe(second);
    await instance.destroy();
  });

  it('rides out an API server restart and an expired watch: the sandbox lives on and reconnects', async () => {
    const instance = await env.runtime.create(sandboxSpec('restart'));
    const client = await instance.connect();
    await client.writeFile('before.txt', Buffer.from('kept\n'));
    let ended = false;
    void instance.ended.then(() => (ended = true));
    await env.cluster.restart({ downMs: 200, throttled: 1, retryAfterSeconds: 0 });
    env.cluster.server.expireWatches();
    await client.closed;
    const again = await instance.connect();
    expect(await echo(again, 'cat before.txt')).toBe('kept\n');
    expect(ended).toBe(false);
    // The pod's watch came back too: a deletion now is still seen.
    const [pod] = podsOf(env.cluster, 'restart');
    env.cluster.store.delete('pods', NAMESPACE, pod!.metadata!.name!);
    expect(await instance.ended).toMatchObject({ reason: 'lost' });
  });

  it('reports a pod deleted behind its back as lost', async () => {
    const instance = await env.runtime.create(sandboxSpec('deleted'));
    const [pod] = podsOf(env.cluster, 'deleted');
    env.cluster.store.delete('pods', NAMESPACE, pod!.metadata!.name!);
    expect(await instance.ended).toMatchObject({ reason: 'lost' });
  });

  it('reports an evicted pod as lost, with the eviction in the message', async () => {
    const instance = await env.runtime.create(sandboxSpec('evicted'));
    const [pod] = podsOf(env.cluster, 'evicted');
    await env.cluster.kubelet.evict(NAMESPACE, pod!.metadata!.name!);
    expect(await instance.ended).toMatchObject({ reason: 'lost', message: expect.stringMatching(/evicted/) });
    await instance.destroy();
  });

  it("fails create with the kubelet's reason when the image cannot be pulled, leaving no pod", async () => {
    const broken = await env.another({ images: { python: 'registry.invalid/python:none' } });
    await expect(broken.create(sandboxSpec('no-image'))).rejects.toThrow(/ErrImagePull|ImagePullBackOff/);
    await podsGone(env.cluster, 'no-image');
  });

  it("fails create when no node takes the pod within startTimeoutMs, naming the scheduler's reason", async () => {
    const impatient = await env.another({ startTimeoutMs: 800 });
    env.cluster.controllers.faults.unschedulable = true;
    try {
      await expect(impatient.create(sandboxSpec('unschedulable'))).rejects.toThrow(
        /did not start in time: unschedulable/,
      );
    } finally {
      env.cluster.controllers.faults.unschedulable = false;
    }
    await podsGone(env.cluster, 'unschedulable');
  });

  it("runs a project's sandbox in the project's namespace, which it makes with its isolation policy", async () => {
    const project = { id: 'p-42', namespace: 'proj-p-42', limits: {}, egress: [] };
    const instance = await env.runtime.create(sandboxSpec('in-project', { project }));
    const [pod] = podsOf(env.cluster, 'in-project', 'proj-p-42');
    expect(pod?.metadata?.labels?.['crucible.dev/project-id']).toBe('p-42');
    expect(env.cluster.store.get('namespaces', '', 'proj-p-42')).toBeDefined();
    expect(env.cluster.store.get('networkpolicies', 'proj-p-42', 'crucible-project-isolation')).toBeDefined();
    expect(await echo(await instance.connect(), 'cat seed/hello.txt')).toBe('seeded\n');
    await instance.destroy();
    await podsGone(env.cluster, 'in-project', 'proj-p-42');
  });

  it('a restarted server adopts the running pod (its workspace intact); a sandbox with no pod is not adoptable', async () => {
    const first = await env.another();
    const instance = await first.create(sandboxSpec('adopted'));
    await (await instance.connect()).writeFile('before-restart.txt', Buffer.from('1\n'));
    await first.close();
    expect(podsOf(env.cluster, 'adopted')).toHaveLength(1);
    const restarted = await env.another();
    const adopted = await restarted.adopt!('adopted', sandboxSpec('adopted'));
    expect(adopted).not.toBeNull();
    expect(await echo(await adopted!.connect(), 'echo $GREETING; cat before-restart.txt')).toBe('hello\n1\n');
    await adopted!.destroy();
    await podsGone(env.cluster, 'adopted');
    expect(await restarted.adopt!('adopted', sandboxSpec('adopted'))).toBeNull();
  });
});
