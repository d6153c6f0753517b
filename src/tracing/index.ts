import { NO_TRACING, type Tracing } from './tracing.js';

export { NO_TRACING, STAGE_SPANS, PLATFORM_SPANS, type Tracing } from './tracing.js';
export { formatTraceparent, parseTraceparent, type TraceParent } from './traceparent.js';
export { tracingHooks } from './http.js';
export { tracedRuntime } from './traced-runtime.js';

export interface TracingConfig {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP/HTTP base URL; traces go to `<it>/v1/traces`. */
  readonly endpoint?: string;
  /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full traces URL, when it is not `<endpoint>/v1/traces`. */
  readonly tracesEndpoint?: string;
  /** `OTEL_SERVICE_NAME`, default `crucible`. */
  readonly serviceName?: string;
  readonly serviceVersion: string;
  /** `OTEL_BSP_SCHEDULE_DELAY`: ms finished spans wait to be exported together (default 5000). */
  readonly scheduleDelayMs?: number;
}

/**
 * Tracing when an OTLP endpoint is configured, else the no-op: OpenTelemetry's packages are imported only
 * in the first case, so a server without tracing loads none of them.
 */
export async function createTracing(config: TracingConfig): Promise<Tracing> {
  const url = config.tracesEndpoint ?? (config.endpoint ? tracesUrl(config.endpoint) : undefined);
  if (!url) return NO_TRACING;
  const { createOtelTracing } = await import('./otel.js');
  return createOtelTracing({
    url,
    serviceName: config.serviceName ?? 'crucible',
    serviceVersion: config.serviceVersion,
    ...(config.scheduleDelayMs !== undefined ? { scheduleDelayMs: config.scheduleDelayMs } : {}),
  });
}

/** As the OTLP exporter specification says: the signal's path appended to the base endpoint. */
function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}
