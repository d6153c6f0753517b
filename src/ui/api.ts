/** The dashboard's one way to the server: the same `/v1` API as any client, with the user's token. */
import { TERMINAL_STATUSES } from '../core/status.js';

const TOKEN_KEY = 'crucible.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const token = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (value: string) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

/** Listeners told when a call answered 401: the page shows the login form. */
const unauthenticated = new Set<() => void>();
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticated.add(listener);
  return () => unauthenticated.delete(listener);
}

export function authHeaders(): Record<string, string> {
  const value = token.get();
  return value ? { authorization: `Bearer ${value}` } : {};
}

export async function call<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: { ...authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(signal ? { signal } : {}),
  });
  if (response.status === 401) for (const listener of unauthenticated) listener();
  const text = await response.text();
  const json = text ? (JSON.parse(text) as unknown) : null;
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? 'error', error?.message ?? response.statusText);
  }
  return json as T;
}

export interface Timings {
  submittedAt: string;
  dispatchedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  storedAt: string | null;
  jobCreatedAt: string | null;
  podScheduledAt: string | null;
  containerStartedAt: string | null;
  containerFinishedAt: string | null;
}

export interface Result {
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  message: string | null;
  stdout?: string;
  stderr?: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  outputComplete: boolean;
  durationMs: number | null;
  cpuTimeMs: number | null;
  peakMemoryBytes: number | null;
  memoryEnforcement: string | null;
}

export interface Evaluation {
  id: string;
  status: string;
  language: string;
  priority: 'high' | 'normal' | 'low';
  labels: Record<string, string>;
  runtime: string;
  user: string | null;
  limits: { timeoutSeconds: number; memoryMb: number; maxOutputBytes: number };
  createdAt: string;
  result: Result | null;
  timings: Timings;
  durations: Record<'queueMs' | 'startMs' | 'runMs' | 'storeMs' | 'totalMs', number | null>;
}

export interface Transition {
  seq: number;
  evaluationId: string;
  from: string | null;
  to: string;
  at: string;
  reason: string | null;
}

export interface LogLine {
  seq: number;
  stream: 'stdout' | 'stderr';
  at: string;
  data?: string;
  base64?: string;
}

export interface QueueStats {
  queued: Record<'high' | 'normal' | 'low', number>;
  running: number;
  awaitingAdmission: number;
  capacity: number;
  replica: { id: string; running: number; slots: number; working: boolean };
}

export { STATUSES } from '../core/status.js';
export const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

export interface Sandbox {
  id: string;
  status: 'starting' | 'ready' | 'hibernated' | 'terminated' | 'error';
  language: string;
  user: string | null;
  memoryMb: number;
  labels: Record<string, string>;
  runtime: string;
  error: string | null;
  createdAt: string;
  lastActiveAt: string;
  hibernatedAt: string | null;
  terminatedAt: string | null;
}

/**
 * A sandbox's terminal WebSocket: its URL and the subprotocols to offer. A browser WebSocket cannot send an
 * Authorization header, so the token rides as the subprotocol `bearer.<token>`; the server answers with the
 * first one, `crucible.pty`, so the token is never echoed.
 */
export function ptySocket(id: string, size: { cols: number; rows: number }): WebSocket {
  const url = new URL(`/v1/sandboxes/${encodeURIComponent(id)}/pty`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('cols', String(size.cols));
  url.searchParams.set('rows', String(size.rows));
  const value = token.get();
  return new WebSocket(url, value ? ['crucible.pty', `bearer.${value}`] : ['crucible.pty']);
}
