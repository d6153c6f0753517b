import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectNamespace, type ProjectPlacement } from '../../src/core/index.js';
import { createKubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { eventually, FAST, request, setup, Tracked, type Env } from '../kubernetes/harness.js';
import { inProcess } from '../support/in-process.js';

/** A run request of a project (the harness's `request` takes no project). */
function inProject(code: string, project: ProjectPlacement) {
  return { ...request(code), project };
}

function placement(id: string, extra: Partial<ProjectPlacement> = {}): ProjectPlacement {
  return { id, namespace: projectNamespace(id), limits: {}, egress: [], ...extra };
}

const sleeper = (seconds: number) => `import time\ntime.sleep(${seconds})\nprint("slept")`;

describe('projects on the fake cluster: namespaces, policies, quotas', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(async () => env.close());

  it('two projects get two labelled namespaces whose policies admit nothing from each other, and run there', async () => {
    const a = placement('aaaa-1111', { limits: { memoryMb: 1024, maxConcurrent: 3, cpu: 1.5 } });
    const b = placement('bbbb-2222', { egress: ['192.0.2.0/24'] });
    const [ta, tb] = await Promise.all([
      env.run(inProject('print("in a")', a)),
      env.run(inProject('print("in b")', b)),
    ]);
    await Promise.all([ta.until(), tb.until()]);
    expect([ta.evaluation.status, ta.out, tb.evaluation.status, tb.out]).toEqual([
      'succeeded',
      'in a\n',
      'succeeded',
      'in b\n',
    ]);

    const store = env.cluster.store;
    for (const project of [a, b]) {
      const ns = store.get('namespaces', '', project.namespace);
      expect(ns?.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'crucible',
        'app.kubernetes.io/managed-by': 'crucible',
        'crucible.dev/project-id': project.id,
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
      });
    }
    const policy = (ns: string) => {
      const policies = store.list('networkpolicies', ns) as unknown as V1NetworkPolicy[];
      expect(policies).toHaveLength(1);
      return policies[0]!.spec;
    };
    // Every pod of the namespace, both directions, and no ingress rule at all: nothing may connect to a
    // project's pods — the other project's pods included — and A may connect to nothing.
    expect(policy(a.namespace)).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // B may reach only its CIDR, as an ipBlock (no namespace or pod selector that could name A); A's
    // ingress side still refuses B whatever B's egress allows.
    expect(policy(b.namespace)).toEqual({
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }],
    });
    for (const ns of [a.namespace, b.namespace]) expect(policy(ns)).not.toHaveProperty('ingress');

    expect(store.get('resourcequotas', a.namespace, 'crucible-project')?.spec).toEqual({
      hard: {
        pods: '3',
        'requests.memory': '1024Mi',
        'limits.memory': '1024Mi',
        'requests.cpu': '1500m',
        'limits.cpu': '1500m',
      },
    });
    expect(store.get('limitranges', a.namespace, 'crucible-project')?.spec).toEqual({
      limits: [{ type: 'Container', max: { memory: '1024Mi', cpu: '1500m' } }],
    });
    // A project without limits gets no quota and no LimitRange.
    expect(store.list('resourcequotas', b.namespace)).toEqual([]);
    expect(store.list('limitranges', b.namespace)).toEqual([]);
    // Nothing of either project ran in the runtime's own namespace.
    expect(store.list('jobs', 'crucible-test')).toEqual([]);
  });

  it('a pod over the quota is refused with 403 Forbidden and the API server message', async () => {
    const c = placement('cccc-3333', { limits: { maxConcurrent: 1 } });
    const t = await env.run(inProject(sleeper(1.5), c));
    await t.until((s) => s === 'running');
    const response = await fetch(`${env.cluster.url}/api/v1/namespaces/${c.namespace}/pods`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        metadata: { name: 'extra' },
        spec: { containers: [{ name: 'x', image: 'x' }] },
      }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      reason: 'Forbidden',
      code: 403,
      message:
        'pods "extra" is forbidden: exceeded quota: crucible-project, requested: pods=1, used: pods=1, limited: pods=1',
    });
    // Memory is printed in the largest binary unit, as the API server prints quantities.
    const m = placement('cccc-3334', { limits: { memoryMb: 256 } });
    const big = await env.run(inProject(sleeper(1.5), m));
    await big.until((s) => s === 'running');
    const memory = await fetch(`${env.cluster.url}/api/v1/namespaces/${m.namespace}/pods`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        metadata: { name: 'more' },
        spec: { containers: [{ name: 'x', image: 'x', resources: { limits: { memory: '1Gi' } } }] },
      }),
    });
    expect(((await memory.json()) as { message: string }).message).toBe(
      'pods "more" is forbidden: exceeded quota: crucible-project, requested: limits.memory=1Gi,requests.memory=1Gi, ' +
        'used: limits.memory=256Mi,requests.memory=256Mi, limited: limits.memory=256Mi,requests.memory=256Mi',
    );
    await Promise.all([t.until(), big.until()]);
  });

  it('over quota the second evaluation waits (starting, no pod) while the first runs, then runs after it', async () => {
    const d = placement('dddd-4444', { limits: { maxConcurrent: 1, memoryMb: 512 } });
    const first = await env.run(inProject(sleeper(1.5), d));
    await first.until((s) => s === 'running');
    const rejectionsBefore = env.cluster.controllers.quotaRejections;
    const second = await env.run(inProject('print("second")', d));
    await eventually(() => env.cluster.controllers.quotaRejections > rejectionsBefore + 2);
    expect(second.evaluation.status).toBe('starting');
    expect(env.cluster.store.list('pods', d.namespace)).toHaveLength(1);
    expect(env.cluster.controllers.lastQuotaRejection).toMatch(
      /is forbidden: exceeded quota: crucible-project, requested: pods=1, used: pods=1, limited: pods=1$/,
    );
    await Promise.all([first.until(), second.until()]);
    expect([first.evaluation.status, second.evaluation.status, second.out]).toEqual([
      'succeeded',
      'succeeded',
      'second\n',
    ]);
    const finishedFirst = Date.parse(first.evaluation.timings.finishedAt ?? '');
    expect(Date.parse(second.evaluation.timings.startedAt ?? '')).toBeGreaterThanOrEqual(
      finishedFirst - 1000,
    );
  });
});

describe('a project evaluation across a restart of Crucible', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(async () => env.close());

  it('is re-adopted from its project namespace by a new runtime, output complete', async () => {
    const f = placement('ffff-6666');
    const req = inProject('import time\nprint("before", flush=True)\ntime.sleep(1.5)\nprint("after")', f);
    const before = await env.run(req);
    await before.until((s) => s === 'running');
    await env.runtime.close();
    const next = await createKubernetesRuntime({ ...FAST, kubeconfigPath: env.cluster.kubeconfigPath });
    try {
      const after = new Tracked(req);
      after.started(new Date());
      expect(await next.adopt(req, after)).toBe('adopted');
      await after.until();
      expect([after.evaluation.status, after.out]).toEqual(['succeeded', 'before\nafter\n']);
      await eventually(() => env.cluster.store.list('jobs', f.namespace).length === 0);
      // Unknown evaluations are lost, in a project as elsewhere.
      expect(await next.adopt(inProject('print(1)', f), new Tracked(req))).toBe('lost');
    } finally {
      await next.close();
    }
  });
});

describe('a project whose quota stays exhausted', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup({ quotaWaitSeconds: 1 });
  });
  afterAll(async () => env.close());

  it('ends the waiting evaluation as error / quota_exceeded after quotaWaitSeconds; the first runs on', async () => {
    const e = placement('eeee-5555', { limits: { maxConcurrent: 1 } });
    const first = await env.run(inProject(sleeper(4), e));
    await first.until((s) => s === 'running');
    const started = Date.now();
    const second = await env.run(inProject('print("never")', e));
    await second.until();
    const waited = Date.now() - started;
    expect(second.evaluation.status).toBe('error');
    expect(second.evaluation.result).toMatchObject({ reason: 'quota_exceeded', exitCode: null });
    expect(second.evaluation.result?.message).toMatch(/No pod could be created in proj-eeee-5555 for 1 s/);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(4000);
    expect(first.evaluation.status).toBe('running');
    await first.until();
    expect(first.evaluation.status).toBe('succeeded');
  });
});

describe('deleting a project (service and Kubernetes runtime on the fake cluster)', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(async () => env.close());

  it('cancels its running evaluation, then removes its namespace with its Jobs and pods', async () => {
    const runtime = await createKubernetesRuntime({ ...FAST, kubeconfigPath: env.cluster.kubeconfigPath });
    const p = await inProcess({ runtime, concurrency: 4 });
    try {
      const project = await p.service.projects!.create({ name: 'doomed', limits: { maxConcurrent: 2 } });
      const { evaluation } = await p.service.submit({
        language: 'python',
        code: sleeper(30),
        project: project.id,
      });
      const store = env.cluster.store;
      await eventually(
        () => store.list('pods', project.namespace).some((pod) => pod.status?.['phase'] === 'Running'),
        10_000,
      );
      const deleted = await p.service.projects!.delete(project.id);
      expect(deleted.cancelled).toEqual([evaluation.id]);
      expect((await p.service.get(evaluation.id)).status).toBe('cancelled');
      expect(store.get('namespaces', '', project.namespace)).toBeUndefined();
      await eventually(
        () =>
          (['jobs', 'pods', 'configmaps', 'networkpolicies', 'resourcequotas'] as const).every(
            (kind) => store.list(kind, project.namespace).length === 0,
          ),
        10_000,
      );
    } finally {
      await p.close();
    }
  });
});
