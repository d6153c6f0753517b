import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Crucible, Evaluation } from '../../src/client/index.js';
import type { RunningServer } from '../../src/server.js';
import {
  createTracing,
  formatTraceparent,
  NO_TRACING,
  parseTraceparent,
  tracedRuntime,
} from '../../src/tracing/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { startKubeServer, type KubeServer } from '../support/kube-server.js';
import { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const STAGES = [
  ['queue', 'submittedAt', 'dispatchedAt'],
  ['start', 'dispatchedAt', 'startedAt'],
  ['run', 'startedAt', 'finishedAt'],
  ['store', 'finishedAt', 'storedAt'],
] as const;

describe('traceparent', () => {
  it('parses the W3C header and refuses what the spec says to ignore', () => {
    const header = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseTraceparent(header)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      flags: 1,
    });
    expect(formatTraceparent(parseTraceparent(header)!)).toBe(header);
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeNull();
    expect(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeNull();
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x')).toBeNull();
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x')).not.toBeNull();
    expect(parseTraceparent('garbage')).toBeNull();
  });
});

describe('tracing off', () => {
  it('is the no-op, and the runtime is handed on untouched (no proxy, no OpenTelemetry module loaded)', async () => {
    const tracing = await createTracing({ serviceVersion: '0' });
    expect(tracing).toBe(NO_TRACING);
    const runtime = new FakeRuntime();
    expect(tracedRuntime(runtime, tracing)).toBe(runtime);
  });
});

/**
 * The whole server (in process, real HTTP) on the Kubernetes backend of the fake API server, exporting to
 * an OTLP/HTTP receiver of the test's own, with webhooks to the same receiver.
 */
describe('OpenTelemetry: one trace per evaluation, exported over OTLP/HTTP', () => {
  let receiver: OtlpReceiver;
  let kube: KubeServer;
  let server: RunningServer;
  let client: Crucible;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    kube = await startKubeServer({
      concurrency: 4,
      tracing: { endpoint: receiver.url, scheduleDelayMs: 20, serviceName: 'crucible-test' },
      webhooks: { secret: Buffer.alloc(24, 7).toString('base64'), allowPrivate: true },
    });
    ({ server, client } = kube);
  });
  afterAll(async () => {
    await kube?.close();
    await receiver?.close();
  });

  const rootOf = (id: string): ReceivedSpan | undefined =>
    receiver.spans.find((s) => s.name === 'evaluation' && s.attributes['crucible.evaluation.id'] === id);
  const traceOf = (root: ReceivedSpan) => receiver.spans.filter((s) => s.traceId === root.traceId);

  it('has the stage spans in order, with the durations of the stored timestamps (±2 ms)', async () => {
    const remote = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const submitted = await Promise.all([
      fetch(`${server.url}/v1/evaluations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: remote },
        body: JSON.stringify({
          language: 'python',
          code: 'print("traced")',
          webhook: { url: `${receiver.url}/hook` },
        }),
      }).then((r) => r.json() as Promise<{ id: string }>),
      client.submit({ language: 'python', code: 'print(2)' }),
      client.submit({ language: 'python', code: 'import sys; sys.exit(3)' }),
    ]);
    const finals: Evaluation[] = await Promise.all(submitted.map((s) => client.get(s.id, 60)));
    expect(finals.map((f) => f.status)).toEqual(['succeeded', 'succeeded', 'failed']);
    await receiver.until(() => finals.every((f) => rootOf(f.id) !== undefined));

    const traceIds = finals.map((f) => rootOf(f.id)!.traceId);
    expect(new Set(traceIds).size).toBe(3);
    // The caller's traceparent: its trace, under its span.
    expect(traceIds[0]).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(rootOf(finals[0]!.id)!.parentSpanId).toBe('b7ad6b7169203331');

    for (const final of finals) {
      const root = rootOf(final.id)!;
      const spans = traceOf(root);
      // Every span of the trace belongs to this evaluation: one trace per evaluation, none shared.
      expect(spans.every((s) => s.service === 'crucible-test')).toBe(true);
      const children = spans.filter((s) => s.parentSpanId === root.spanId);
      const stages = STAGES.map(([name]) => children.find((s) => s.name === name)!);
      expect(stages.every(Boolean)).toBe(true);
      for (let i = 0; i < STAGES.length; i++) {
        const [name, from, to] = STAGES[i]!;
        const stored = Date.parse(final.timings[to]!) - Date.parse(final.timings[from]!);
        const span = stages[i]!;
        expect(Math.abs(span.endMs - span.startMs - stored), name).toBeLessThanOrEqual(2);
        expect(Math.abs(span.startMs - Date.parse(final.timings[from]!)), name).toBeLessThanOrEqual(2);
        if (i > 0) expect(span.startMs, name).toBeGreaterThanOrEqual(stages[i - 1]!.endMs - 2);
      }
      expect(Math.abs(root.endMs - Date.parse(final.timings.storedAt!))).toBeLessThanOrEqual(2);
      // API → queue → dispatch → runtime → store, and the Kubernetes calls under the dispatch.
      const api = children.find((s) => s.name === 'api.submit')!;
      expect(api.startMs).toBeLessThanOrEqual(stages[0]!.startMs + 2);
      const dispatch = children.find((s) => s.name === 'dispatch')!;
      expect(dispatch.startMs).toBeGreaterThanOrEqual(stages[0]!.endMs - 2);
      const calls = spans.filter((s) => s.parentSpanId === dispatch.spanId).map((s) => s.name);
      expect(calls).toContain('kubernetes.createJob');
      const start = stages[1]!;
      const platform = spans.filter((s) => s.parentSpanId === start.spanId).map((s) => s.name);
      expect(platform).toEqual(
        expect.arrayContaining([
          'kubernetes.job_create',
          'kubernetes.pod_schedule',
          'kubernetes.container_start',
        ]),
      );
      expect(root.attributes['crucible.status']).toBe(final.status);
    }

    // The webhook carries the trace's context, so the receiver's work joins the evaluation's trace.
    await receiver.until(() => receiver.hooks.length > 0);
    const hook = parseTraceparent(String(receiver.hooks[0]!['traceparent']));
    expect(hook?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(hook?.spanId).toBe(rootOf(finals[0]!.id)!.spanId);
  });
});
