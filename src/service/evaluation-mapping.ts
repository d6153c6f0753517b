import { initialTimings } from '../core/index.js';
import type { Evaluation, Grading, Limits, ProjectPlacement, RunOutcome, Submission } from '../core/index.js';
import type { RunRequest } from '../runtime/runtime.js';

export interface NewEvaluationContext {
  readonly id: string;
  readonly language: string;
  readonly now: Date;
  readonly defaults: Limits;
  readonly runtime: string;
  /** Who submitted it; null while authentication is off. */
  readonly user?: string | null;
}

/** A queued evaluation for a submission, with the server's defaults filled in. */
export function newEvaluation(submission: Submission, context: NewEvaluationContext): Evaluation {
  const now = context.now.toISOString();
  const { defaults } = context;
  return {
    id: context.id,
    status: 'queued',
    language: context.language,
    code: submission.code,
    stdin: submission.stdin ?? '',
    priority: submission.priority ?? 'normal',
    labels: submission.labels ?? {},
    limits: {
      ...defaults,
      timeoutSeconds: submission.timeoutSeconds ?? defaults.timeoutSeconds,
      memoryMb: submission.memoryMb ?? defaults.memoryMb,
      ...(submission.artifactsMb !== undefined ? { artifactsMb: submission.artifactsMb } : {}),
      ...(submission.maxLogBytes !== undefined ? { maxLogBytes: submission.maxLogBytes } : {}),
    },
    runtime: context.runtime,
    ...(submission.project === undefined ? {} : { project: submission.project }),
    ...(context.user ? { user: context.user } : {}),
    createdAt: now,
    timings: initialTimings(now),
    result: null,
    ...gradingOf(submission),
  };
}

/** The files and tests a submission carries; nothing for a plain one, so its stored row stays as before. */
function gradingOf(submission: Submission): { grading?: Grading } {
  const files = submission.files ?? [];
  const tests = submission.tests ?? [];
  if (files.length === 0 && tests.length === 0) return {};
  return { grading: { files, tests, compare: submission.compare ?? {} } };
}

export function shutdownOutcome(at: Date): RunOutcome {
  return {
    kind: 'error',
    reason: 'infrastructure',
    message: 'the server shut down while this evaluation ran; it was stopped and not run again',
    at,
  };
}

export function runRequestOf(evaluation: Evaluation, project?: ProjectPlacement): RunRequest {
  return {
    evaluationId: evaluation.id,
    language: evaluation.language,
    code: evaluation.code,
    stdin: evaluation.stdin,
    limits: evaluation.limits,
    priority: evaluation.priority,
    labels: evaluation.labels,
    ...(project ? { project } : {}),
    ...(evaluation.grading ? { grading: evaluation.grading } : {}),
  };
}
