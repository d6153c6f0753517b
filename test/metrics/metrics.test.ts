import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/index.js';
import { createKubernetesRuntime, type KubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { mergeWatchTelemetry, newestChange } from '../../src/runtime/kubernetes/telemetry.js';
import type { WatchTelemetry } from '../../src/runtime/runtime.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { FAST } from '../kubernetes/harness.js';

/** The value of one sample line of a Prometheus text exposition, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const braces = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!braces) continue;
    const found = Object.fromEntries(
      [...(braces[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(braces[2]);
  }
  return undefined;
}

async function submitAndWait(env: InProcess, body: object): Promise<{ id: string; status: string }> {
  const app = await env.api();
  const submitted = await app.inject({ method: 'POST', url: '/v1/evaluations', payload: body });
  const { id } = submitted.json<{ id: string }>();
  return (await app.inject({ method: 'GET', url: `/v1/evaluations/${id}?wait=30` })).json();
}

describe('/metrics on the Kubernetes backend (fake API server)', () => {
  let cluster: FakeCluster;
  let runtime: KubernetesRuntime;
  let env: InProcess;
  let metrics: () => Promise<string>;

  beforeAll(async () => {
    cluster = await startFakeCluster();
    cluster.server.faults.bookmarkIntervalMs = 150;
    runtime = await createKubernetesRuntime({ ...FAST, kubeconfigPath: cluster.kubeconfigPath });
    env = await inProcess({ runtime });
    // The registry the composition root builds, with the runtime's watch telemetry.
    const registry = createMetrics(
      env.bus,
      () => env.service.queueStats(),
      () => 0,
      runtime.watchTelemetry ? { watch: runtime.watchTelemetry } : {},
    );
    metrics = () => registry.metrics();
  });
  afterAll(async () => {
    await env.close();
    await cluster.close();
  });

  it('has a histogram per stage by backend and language, the Kubernetes stages included', async () => {
    const done = await submitAndWait(env, { language: 'python', code: 'print(1)' });
    expect(done.status).toBe('succeeded');
    const text = await metrics();
    for (const stage of [
      'queue_wait',
      'start',
      'run',
      'store',
      'end_to_end',
      'job_create',
      'pod_schedule',
      'container_start',
    ]) {
      const count = sample(text, 'crucible_stage_duration_seconds_count', {
        stage,
        backend: 'kubernetes',
        language: 'python',
      });
      expect(count, stage).toBe(1);
    }
    expect(
      sample(text, 'crucible_evaluations_finished_total', { status: 'succeeded', language: 'python' }),
    ).toBe(1);
    expect(sample(text, 'crucible_queue_depth', { priority: 'high' })).toBe(0);
    expect(sample(text, 'crucible_running')).toBe(0);
    expect(sample(text, 'crucible_capacity')).toBe(2);
    expect(
      sample(text, 'crucible_kubernetes_watch_event_lag_seconds_count', { kind: 'pods' }),
    ).toBeGreaterThan(0);
    expect(sample(text, 'crucible_kubernetes_watch_events_total', { kind: 'jobs' })).toBeGreaterThan(0);
  });

  it('counts reconnects and relists after the API server drops and expires its watches', async () => {
    const before = await metrics();
    const reconnects = sample(before, 'crucible_kubernetes_watch_reconnects_total', { kind: 'pods' }) ?? 0;
    const relists = sample(before, 'crucible_kubernetes_relists_total', { kind: 'pods' }) ?? 0;
    cluster.server.expireWatches();
    // The next evaluation's pod events arrive only once the monitor relisted and watches again.
    const done = await submitAndWait(env, { language: 'python', code: 'print(2)' });
    expect(done.status).toBe('succeeded');
    const after = await metrics();
    expect(sample(after, 'crucible_kubernetes_relists_total', { kind: 'pods' })).toBeGreaterThan(relists);
    expect(sample(after, 'crucible_kubernetes_watch_reconnects_total', { kind: 'pods' })).toBeGreaterThan(
      reconnects,
    );
  });

  it('the Grafana dashboard asks only for metrics the server exposes, with labels they carry', async () => {
    const dashboard = JSON.parse(await readFile('deploy/grafana/crucible-dashboard.json', 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const text = await metrics();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/crucible_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        expect(exposed.has(base), `${name} in ${expr}`).toBe(true);
      }
    }
    expect(text).toMatch(
      /crucible_stage_duration_seconds_bucket\{[^}]*backend="kubernetes"[^}]*language="python"/,
    );
  });

  it('reads the newest change a pod records (conditions, container start and end)', () => {
    const pod = {
      metadata: { creationTimestamp: '2026-01-01T00:00:01Z', deletionTimestamp: '2026-01-01T00:09:00Z' },
      status: {
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:03Z' }],
        containerStatuses: [
          { name: 'main', state: { terminated: { exitCode: 0, finishedAt: '2026-01-01T00:00:05Z' } } },
        ],
      },
    };
    expect(newestChange(pod as never)).toBe(Date.parse('2026-01-01T00:00:05Z'));
  });
});

describe('watch telemetry of several clusters', () => {
  it('prefixes each cluster’s kinds with its name, counters and events alike', () => {
    const listeners: ((kind: string, lag: number) => void)[] = [];
    const one = (events: number): WatchTelemetry => ({
      counters: () => [{ kind: 'pods', lists: 1, reconnects: 0, relists: 0, events, errors: 0 }],
      onEvent: (listener) => {
        listeners.push(listener);
        return () => undefined;
      },
    });
    const merged = mergeWatchTelemetry([
      ['east', one(3)],
      ['west', one(5)],
      ['none', undefined],
    ])!;
    expect(merged.counters().map((c) => [c.kind, c.events])).toEqual([
      ['east/pods', 3],
      ['west/pods', 5],
    ]);
    const heard: string[] = [];
    merged.onEvent((kind) => heard.push(kind));
    listeners.forEach((l) => l('jobs', 0.5));
    expect(heard).toEqual(['east/jobs', 'west/jobs']);
    expect(mergeWatchTelemetry([['a', undefined]])).toBeUndefined();
  });
});

describe('/metrics on a backend without platform stages', () => {
  it('observes the five Crucible stages and none of the Kubernetes ones', async () => {
    const env = await inProcess({ runtime: new FakeRuntime() });
    try {
      const registry = createMetrics(
        env.bus,
        () => env.service.queueStats(),
        () => 0,
      );
      const done = await submitAndWait(env, { language: 'python', code: 'x', priority: 'low' });
      expect(done.status).toBe('succeeded');
      const text = await registry.metrics();
      const count = (stage: string) =>
        sample(text, 'crucible_stage_duration_seconds_count', { stage, backend: 'fake', language: 'python' });
      expect(count('end_to_end')).toBe(1);
      expect(count('job_create')).toBeUndefined();
      expect(text).not.toContain('crucible_kubernetes_');
    } finally {
      await env.close();
    }
  });
});
