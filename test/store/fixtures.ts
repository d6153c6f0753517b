import { randomUUID } from 'node:crypto';
import {
  DEFAULT_LIMITS,
  type Evaluation,
  type LogChunk,
  type OutputStream,
  type Result,
} from '../../src/core/index.js';
import type { ClaimRequest, TransitionWrite } from '../../src/store/store.js';

/** A queued evaluation with a unique id; tests override what they assert on. */
export function queuedEvaluation(overrides: Partial<Evaluation> = {}): Evaluation {
  const now = new Date().toISOString();
  return {
    id: `ev_${randomUUID()}`,
    status: 'queued',
    language: 'python',
    code: 'print("hi")',
    stdin: '',
    priority: 'normal',
    labels: {},
    limits: DEFAULT_LIMITS,
    runtime: 'bwrap',
    createdAt: now,
    timings: { submittedAt: now, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
    result: null,
    ...overrides,
  };
}

/** The result of a program that exited 0 within its limits; tests override what they assert on. */
export function succeededResult(overrides: Partial<Result> = {}): Result {
  return {
    exitCode: 0,
    signal: null,
    reason: null,
    message: null,
    durationMs: 5,
    cpuTimeMs: 1,
    peakMemoryBytes: 1,
    memoryEnforcement: 'cgroup',
    stdoutTruncated: false,
    stderrTruncated: false,
    outputComplete: true,
    ...overrides,
  };
}

/** The write that moves `evaluation` from its current status to `to`. */
export function moveTo(
  evaluation: Evaluation,
  to: Evaluation['status'],
  patch: Partial<Evaluation> = {},
): TransitionWrite {
  return {
    evaluation: { ...evaluation, ...patch, status: to },
    from: evaluation.status,
    to,
    at: new Date().toISOString(),
    reason: patch.result?.reason ?? null,
  };
}

export function chunk(
  evaluationId: string,
  seq: number,
  stream: OutputStream,
  data: string | Buffer,
): LogChunk {
  return {
    evaluationId,
    seq,
    stream,
    data: typeof data === 'string' ? Buffer.from(data) : data,
    at: new Date().toISOString(),
  };
}

/** The `dispatched` transition a claim writes: to `starting`, with `dispatchedAt` stamped. */
export function dispatchOf(evaluation: Evaluation): TransitionWrite {
  const at = new Date().toISOString();
  return moveTo(evaluation, 'starting', { timings: { ...evaluation.timings, dispatchedAt: at } });
}

/** A claim for `owner` that dispatches everything it is offered; tests override what they assert on. */
export function claimFor(owner: string, overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return { owner, max: 100, globalConcurrency: 100, agingMs: 30_000, dispatch: dispatchOf, ...overrides };
}
