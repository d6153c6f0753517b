import type { Evaluation } from '../core/index.js';

/**
 * One trace per evaluation (docs/observability.md). The server calls these at the points an evaluation
 * passes; with tracing off every call is a no-op and nothing of OpenTelemetry is loaded.
 */
export interface Tracing {
  readonly enabled: boolean;
  /**
   * An evaluation was accepted over HTTP: the request arrived at `receivedAt` and was answered at
   * `repliedAt` (epoch ms). A valid `traceparent` from the caller makes its span the trace's parent.
   */
  submitted(evaluationId: string, receivedAt: number, repliedAt: number, traceparent?: string): void;
  /** Runs the runtime's launch of an evaluation as its `dispatch` span; `call`s inside become its children. */
  launch<T>(evaluationId: string, work: () => Promise<T>): Promise<T>;
  /** A call to an outside API (Kubernetes) as a child span of the launch it is made in; outside one, untraced. */
  call<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** The evaluation ended: its stage spans from the stored timestamps, and the end of its trace. */
  finished(evaluation: Evaluation): void;
  /** The `traceparent` of the evaluation's root span (sent with its webhooks); undefined when unknown. */
  traceparent(evaluationId: string): string | undefined;
  /** Exports what is still buffered. */
  shutdown(): Promise<void>;
}

export const NO_TRACING: Tracing = {
  enabled: false,
  submitted: () => undefined,
  launch: (_id, work) => work(),
  call: (_name, work) => work(),
  finished: () => undefined,
  traceparent: () => undefined,
  shutdown: async () => undefined,
};

/** The stage spans, each between two stored timestamps, in lifecycle order. */
export const STAGE_SPANS = [
  ['queue', 'submittedAt', 'dispatchedAt'],
  ['start', 'dispatchedAt', 'startedAt'],
  ['run', 'startedAt', 'finishedAt'],
  ['store', 'finishedAt', 'storedAt'],
] as const;

/** Kubernetes' own stages, children of the `start` span when the backend recorded them. */
export const PLATFORM_SPANS = [
  ['kubernetes.job_create', 'dispatchedAt', 'jobCreatedAt'],
  ['kubernetes.pod_schedule', 'jobCreatedAt', 'podScheduledAt'],
  ['kubernetes.container_start', 'podScheduledAt', 'containerStartedAt'],
] as const;
