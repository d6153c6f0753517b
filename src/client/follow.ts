import { CrucibleError, CrucibleUnreachableError } from './errors.js';
import { linesOf, sseEventsOf } from './frames.js';
import { sleep, type Transport } from './transport.js';
import type { ErrorBody, LogLine, LogStream, Transition } from './types.js';

export interface StreamRead {
  readonly transport: Transport;
  /** Reconnects in a row without progress before the error is thrown. */
  readonly maxReconnects: number;
  readonly signal?: AbortSignal | undefined;
}

/** A broken stream (reset, truncated, ended early by the server) is resumed; an API answer or an exhausted transport is final. */
function resumable(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false;
  if (error instanceof StreamEndedEarly) return true;
  return !(error instanceof CrucibleError) && !(error instanceof CrucibleUnreachableError);
}

/**
 * The server ended a stream early and said why in a last `{ error }` frame (a reader dropped as too slow, a
 * store failure): resume from the last item received. Thrown only when resuming keeps failing.
 */
export class StreamEndedEarly extends CrucibleError {}

function endedEarly(frame: unknown): StreamEndedEarly {
  const error = (frame as ErrorBody).error;
  return new StreamEndedEarly(200, String(error.code), String(error.message), error.field ?? null);
}

function isErrorFrame(value: unknown): value is ErrorBody {
  return typeof (value as Partial<ErrorBody> | null)?.error === 'object';
}

/** A log line, an error frame, or nothing (blank or unreadable lines; unknown control lines). */
function parseNdjson(text: string): LogLine | ErrorBody | null {
  if (!text.trim()) return null;
  try {
    const value = JSON.parse(text) as Partial<LogLine> | ErrorBody;
    if (isErrorFrame(value)) return value;
    return typeof value.seq === 'number' && (value.stream === 'stdout' || value.stream === 'stderr')
      ? (value as LogLine)
      : null;
  } catch {
    return null;
  }
}

export interface LogRead extends StreamRead {
  readonly evaluationId: string;
  readonly follow: boolean;
  readonly stream?: LogStream | 'all' | undefined;
  readonly after?: number | undefined;
  /** Asked when a follow ends: is the evaluation terminal? (Otherwise the server dropped the stream.) */
  readonly isFinished: () => Promise<boolean>;
}

/**
 * Log lines with `seq > after`, oldest first, each once. A stream that breaks is reopened with `?after=` the
 * last seq received. A follow that ends while the evaluation is not terminal (the server dropped a slow
 * reader) is reopened too; one that ends at the terminal status is read once more without follow, so lines
 * a dropped stream never sent are still delivered.
 */
export async function* readLogs(read: LogRead): AsyncGenerator<LogLine> {
  const { transport, signal, evaluationId } = read;
  let last = read.after ?? 0;
  let follow = read.follow;
  let failures = 0;
  for (;;) {
    const query = new URLSearchParams({ follow: String(follow), stream: read.stream ?? 'all' });
    if (last > 0) query.set('after', String(last));
    try {
      const response = await transport.send({
        method: 'GET',
        path: `/v1/evaluations/${encodeURIComponent(evaluationId)}/logs?${query.toString()}`,
        headers: { accept: 'application/x-ndjson' },
        signal,
      });
      for await (const text of linesOf(response.body)) {
        const line = parseNdjson(text);
        if (line && 'error' in line) throw endedEarly(line);
        if (!line || line.seq <= last) continue;
        last = line.seq;
        failures = 0;
        yield line;
      }
    } catch (error) {
      if (!resumable(error, signal) || ++failures > read.maxReconnects) throw error;
      await sleep(transport.backoffMs(failures), signal);
      continue;
    }
    if (!follow) return;
    if (await read.isFinished()) follow = false;
  }
}

export interface EventRead extends StreamRead {
  /** Resume after this transition seq (the SSE id); 0 or absent: the whole history. */
  readonly after?: number | undefined;
  /** Wait before reconnecting; default the server's `retry:` advice (1 s), doubled per failure in a row. */
  readonly reconnectDelayMs?: number | undefined;
}

/**
 * Every status transition from `GET /v1/events`, in seq order, each once, for as long as the caller reads.
 * A dropped or broken stream is reopened with `Last-Event-ID` set to the last seq received.
 */
export async function* readEvents(read: EventRead): AsyncGenerator<Transition> {
  const { transport, signal } = read;
  let last = read.after ?? 0;
  let retryMs = read.reconnectDelayMs ?? 1000;
  let failures = 0;
  for (;;) {
    try {
      const response = await transport.send({
        method: 'GET',
        path: '/v1/events',
        headers: { accept: 'text/event-stream', ...(last > 0 ? { 'last-event-id': String(last) } : {}) },
        signal,
      });
      for await (const event of sseEventsOf(response.body)) {
        if (event.retryMs !== undefined && read.reconnectDelayMs === undefined) retryMs = event.retryMs;
        if (event.event === 'error') throw endedEarly(JSON.parse(event.data));
        if (event.event !== 'transition') continue;
        const transition = JSON.parse(event.data) as Transition;
        if (transition.seq <= last) continue;
        last = transition.seq;
        failures = 0;
        yield transition;
      }
    } catch (error) {
      if (!resumable(error, signal) || ++failures > read.maxReconnects) throw error;
    }
    await sleep(retryMs * 2 ** Math.max(0, failures - 1), signal);
  }
}
