import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { isTerminal, type Timings } from '../core/index.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import { PLATFORM_SPANS, STAGE_SPANS, type Tracing } from './tracing.js';

export interface OtelTracingOptions {
  readonly url: string;
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** How long finished spans wait to be exported together (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s). */
  readonly scheduleDelayMs?: number;
}

interface Root {
  readonly span: Span;
  readonly context: Context;
}

/** Roots of evaluations not finished yet, and traceparents of finished ones (for webhook retries). */
const MAX_REMEMBERED = 10_000;

/**
 * OpenTelemetry tracing over OTLP/HTTP (JSON). The root span (`evaluation`) starts when the API receives the
 * submission and ends at its `storedAt`; the stage spans are written when the evaluation ends, with the
 * stored timestamps as their start and end, so a span's duration is exactly the stored difference. The
 * launch (`dispatch`) and the Kubernetes calls inside it are live spans. Contexts are passed explicitly
 * (and through one AsyncLocalStorage for the launch), so no global context manager is installed.
 */
export function createOtelTracing(options: OtelTracingOptions): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      [ATTR_SERVICE_VERSION]: options.serviceVersion,
    }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: options.url }),
        ...(options.scheduleDelayMs !== undefined ? { scheduledDelayMillis: options.scheduleDelayMs } : {}),
      }),
    ],
  });
  const tracer = provider.getTracer('crucible', options.serviceVersion);
  const roots = new Map<string, Root>();
  const ended = new Map<string, string>();
  const launching = new AsyncLocalStorage<Context>();

  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    map.set(key, value);
    if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value!);
  };
  const startRoot = (evaluationId: string, startTime: number, parent: Context): Root => {
    const span = tracer.startSpan(
      'evaluation',
      { startTime, attributes: { 'crucible.evaluation.id': evaluationId } },
      parent,
    );
    const root = { span, context: trace.setSpan(parent, span) };
    remember(roots, evaluationId, root);
    return root;
  };
  // Submissions that did not come over HTTP (a batch item, an Evaluation resource) start their trace here.
  const rootOf = (evaluationId: string, startTime: number) =>
    roots.get(evaluationId) ?? startRoot(evaluationId, startTime, ROOT_CONTEXT);

  return {
    enabled: true,
    submitted(evaluationId, receivedAt, repliedAt, traceparent) {
      const remote = parseTraceparent(traceparent);
      const parent = remote
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: remote.traceId,
            spanId: remote.spanId,
            traceFlags: remote.flags & TraceFlags.SAMPLED,
            isRemote: true,
          })
        : ROOT_CONTEXT;
      const root = startRoot(evaluationId, receivedAt, parent);
      tracer
        .startSpan('api.submit', { startTime: receivedAt, kind: SpanKind.SERVER }, root.context)
        .end(repliedAt);
    },
    async launch(evaluationId, work) {
      const root = rootOf(evaluationId, Date.now());
      const span = tracer.startSpan('dispatch', {}, root.context);
      try {
        return await launching.run(trace.setSpan(root.context, span), work);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
        throw error;
      } finally {
        span.end();
      }
    },
    async call(name, work) {
      const parent = launching.getStore();
      if (!parent) return work();
      const span = tracer.startSpan(name, { kind: SpanKind.CLIENT }, parent);
      try {
        return await work();
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
        throw error;
      } finally {
        span.end();
      }
    },
    finished(evaluation) {
      if (!isTerminal(evaluation.status)) return;
      const t = evaluation.timings;
      const root = rootOf(evaluation.id, Date.parse(t.submittedAt));
      roots.delete(evaluation.id);
      const context = root.span.spanContext();
      remember(ended, evaluation.id, formatTraceparent({ ...context, flags: context.traceFlags }));
      let startContext: Context | null = null;
      for (const [name, from, to] of STAGE_SPANS) {
        const span = stageSpan(name, t, from, to, root.context);
        if (span && name === 'start') startContext = trace.setSpan(root.context, span);
      }
      for (const [name, from, to] of PLATFORM_SPANS)
        stageSpan(name, t, from, to, startContext ?? root.context);
      root.span.setAttributes({
        'crucible.status': evaluation.status,
        'crucible.reason': evaluation.result?.reason ?? '',
        'crucible.runtime': evaluation.runtime,
        'crucible.language': evaluation.language,
      });
      if (evaluation.status === 'error') root.span.setStatus({ code: SpanStatusCode.ERROR });
      root.span.end(Date.parse(t.storedAt ?? t.finishedAt ?? new Date().toISOString()));
    },
    traceparent(evaluationId) {
      const root = roots.get(evaluationId);
      if (!root) return ended.get(evaluationId);
      const context = root.span.spanContext();
      return formatTraceparent({ ...context, flags: context.traceFlags });
    },
    async shutdown() {
      await provider.shutdown();
    },
  };

  function stageSpan(
    name: string,
    timings: Timings,
    from: keyof Timings,
    to: keyof Timings,
    parent: Context,
  ): Span | null {
    const start = timings[from];
    const end = timings[to];
    if (!start || !end) return null;
    const startMs = Date.parse(start);
    // A platform stamp (whole seconds) may read before Crucible's own (ms): such a stage took under a second.
    const span = tracer.startSpan(name, { startTime: startMs }, parent);
    span.end(Math.max(startMs, Date.parse(end)));
    return span;
  }
}
