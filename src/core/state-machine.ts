import type { ArtifactsSummary } from './artifacts.js';
import type { LogSpill } from './log-spill.js';
import type { Evaluation, PlatformStages, Reason, Result, Timings } from './evaluation.js';
import { gradeOutcome } from './verdicts.js';
import type { RunOutcome } from './outcome.js';
import { mergePlatformStages } from './stages.js';
import { isTerminal, statusRank, type Status } from './status.js';

export interface OutputFlags {
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
}

/** Everything that can happen to an evaluation. Runtimes and the service produce these; only this file decides. */
export type LifecycleEvent =
  | { readonly type: 'dispatched'; readonly at: Date; readonly runtime: string }
  | {
      readonly type: 'started';
      readonly at: Date;
      /** The platform stages reached by the start (Kubernetes: Job created, pod scheduled, container started). */
      readonly platform?: Partial<PlatformStages>;
    }
  | {
      readonly type: 'finished';
      readonly outcome: RunOutcome;
      readonly output: OutputFlags;
      /** What was collected from `/artifacts` (absent: nothing). */
      readonly artifacts?: ArtifactsSummary;
      /** Output past the inline prefix stored in the object store (absent: none). */
      readonly logSpill?: LogSpill;
    }
  | { readonly type: 'cancelled'; readonly at: Date; readonly output: OutputFlags };

export interface AppliedTransition {
  readonly evaluation: Evaluation;
  readonly from: Status;
  readonly to: Status;
  readonly at: string;
  readonly reason: Reason | null;
}

/**
 * Applies one lifecycle event. Returns null when the event changes nothing: a repeated, late or backward event
 * (e.g. `started` after `finished`, or `finished` after `cancelled`). Transitions may jump stages, because a
 * Kubernetes relist can show Pending → Failed with nothing in between.
 *
 * @example
 * const next = applyEvent(evaluation, { type: 'started', at: new Date() }, new Date());
 * if (next) await store.saveTransition(next);
 */
export function applyEvent(
  evaluation: Evaluation,
  event: LifecycleEvent,
  now: Date,
): AppliedTransition | null {
  const from = evaluation.status;
  if (isTerminal(from)) return null;
  const target = withArtifacts(targetOf(event), event);
  if (statusRank(target.status) <= statusRank(from)) return null;

  const at = eventTime(event).toISOString();
  const timings = stampTimings(evaluation.timings, event, now);
  const result = target.result ?? evaluation.result;
  return {
    evaluation: {
      ...evaluation,
      status: target.status,
      runtime: event.type === 'dispatched' ? event.runtime : evaluation.runtime,
      timings,
      result,
    },
    from,
    to: target.status,
    at,
    reason: result?.reason ?? null,
  };

  function targetOf(e: LifecycleEvent): { status: Status; result?: Result } {
    switch (e.type) {
      case 'dispatched':
        return { status: 'starting' };
      case 'started':
        return { status: 'running' };
      case 'finished':
        return gradeOutcome(classifyOutcome(e.outcome, e.output), e.outcome, evaluation.grading);
      case 'cancelled':
        return {
          status: 'cancelled',
          result: {
            ...emptyResult(e.output),
            reason: 'cancelled',
            durationMs: evaluation.timings.startedAt
              ? Math.max(0, e.at.getTime() - Date.parse(evaluation.timings.startedAt))
              : null,
          },
        };
    }
  }
}

const OUTPUT_INCOMPLETE =
  'The output is incomplete: the runtime could not read everything the program wrote (its last output was lost).';

/** Maps what a runtime observed to a terminal status and result: the one place outcomes become statuses. */
export function classifyOutcome(
  outcome: RunOutcome,
  output: OutputFlags,
): { status: Status; result: Result } {
  if (outcome.kind === 'error') {
    return {
      status: 'error',
      result: { ...emptyResult(output), reason: outcome.reason, message: outcome.message },
    };
  }
  const complete = outcome.outputComplete ?? true;
  const measured: Result = {
    ...emptyResult(output),
    outputComplete: complete,
    message: complete ? null : OUTPUT_INCOMPLETE,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    durationMs: Math.max(0, outcome.finishedAt.getTime() - outcome.startedAt.getTime()),
    cpuTimeMs: outcome.cpuTimeMs,
    peakMemoryBytes: outcome.peakMemoryBytes,
    memoryEnforcement: outcome.memoryEnforcement,
  };
  let status: Status;
  let reason: Reason | null;
  if (outcome.timedOut) {
    [status, reason] = ['timed_out', 'timeout'];
  } else if (outcome.oomKilled) {
    [status, reason] = ['failed', 'oom'];
  } else if (outcome.exitCode === 0 && outcome.signal === null) {
    [status, reason] = ['succeeded', null];
  } else if (outcome.signal !== null) {
    [status, reason] = ['failed', 'signal'];
  } else {
    [status, reason] = ['failed', 'exit_code'];
  }
  return { status, result: { ...measured, reason } };
}

function emptyResult(output: OutputFlags): Result {
  return {
    exitCode: null,
    signal: null,
    reason: null,
    message: null,
    durationMs: null,
    cpuTimeMs: null,
    peakMemoryBytes: null,
    memoryEnforcement: null,
    stdoutTruncated: output.stdoutTruncated,
    stderrTruncated: output.stderrTruncated,
    outputComplete: true,
  };
}

function eventTime(event: LifecycleEvent): Date {
  switch (event.type) {
    case 'finished':
      return event.outcome.kind === 'exited' ? event.outcome.finishedAt : event.outcome.at;
    default:
      return event.at;
  }
}

function stampTimings(timings: Timings, event: LifecycleEvent, now: Date): Timings {
  const seen =
    event.type === 'started'
      ? event.platform
      : event.type === 'finished'
        ? event.outcome.platform
        : undefined;
  const stamped = stampLifecycle(timings, event, now);
  return seen ? { ...stamped, ...mergePlatformStages(timings, seen) } : stamped;
}

function stampLifecycle(timings: Timings, event: LifecycleEvent, now: Date): Timings {
  switch (event.type) {
    case 'dispatched':
      return { ...timings, dispatchedAt: timings.dispatchedAt ?? event.at.toISOString() };
    case 'started':
      return { ...timings, startedAt: timings.startedAt ?? event.at.toISOString() };
    case 'finished': {
      const outcome = event.outcome;
      const startedAt =
        outcome.kind === 'exited'
          ? (timings.startedAt ?? outcome.startedAt.toISOString())
          : timings.startedAt;
      return {
        ...timings,
        startedAt,
        finishedAt: eventTime(event).toISOString(),
        storedAt: now.toISOString(),
      };
    }
    case 'cancelled':
      return { ...timings, finishedAt: event.at.toISOString(), storedAt: now.toISOString() };
  }
}

/** The result with what `/artifacts` held and where the long logs are; the status is the program's, whatever was dropped. */
function withArtifacts(
  target: { status: Status; result?: Result },
  event: LifecycleEvent,
): { status: Status; result?: Result } {
  const summary = event.type === 'finished' ? event.artifacts : undefined;
  const logSpill = event.type === 'finished' ? event.logSpill : undefined;
  if (!target.result || (!summary && !logSpill)) return target;
  return {
    ...target,
    result: {
      ...target.result,
      ...(summary && summary.artifacts.length > 0 ? { artifacts: summary.artifacts } : {}),
      ...(summary && summary.dropped.length > 0 ? { artifactsDropped: summary.dropped } : {}),
      ...(logSpill ? { logSpill } : {}),
    },
  };
}
