import { isTerminal, type Evaluation, type Status } from '../core/index.js';
import { STATUS_OUTPUT_BYTES } from './definition.js';

export type EvaluationPhase =
  'Queued' | 'Starting' | 'Running' | 'Succeeded' | 'Failed' | 'TimedOut' | 'Cancelled' | 'Error';

const PHASES: Record<Status, EvaluationPhase> = {
  queued: 'Queued',
  starting: 'Starting',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  timed_out: 'TimedOut',
  cancelled: 'Cancelled',
  error: 'Error',
};

export function phaseOf(status: Status): EvaluationPhase {
  return PHASES[status];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What the controller writes into `status` (the CRD's status schema). */
export interface EvaluationObjectStatus {
  phase?: EvaluationPhase;
  evaluationId?: string;
  observedGeneration?: number;
  exitCode?: number | null;
  signal?: string | null;
  reason?: string | null;
  message?: string | null;
  submittedAt?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  durationMs?: number | null;
  duration?: string | null;
  stdout?: string;
  stderr?: string;
  stdoutTruncated?: boolean;
  stderrTruncated?: boolean;
  conditions?: Condition[];
}

export interface Output {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The first `maxBytes` UTF-8 bytes of `text`, cut at a character boundary (a cut inside a multi-byte
 * character would make the status invalid UTF-8), and whether anything was cut.
 */
export function truncateUtf8(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return { text: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

/** "1.2s", "3m4s": the printer column; `durationMs` keeps the exact value. */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${seconds}s`;
}

/**
 * The object's status for an evaluation as it is now. Output is copied only once the evaluation is
 * terminal: a preview of a running program's output would be rewritten (and re-sent to every watcher) on
 * each chunk. `characters` count against the bound in bytes, and `stdoutTruncated` is also set when
 * Crucible itself kept only part of the stream.
 */
export function statusFor(
  evaluation: Evaluation,
  generation: number | undefined,
  output: Output | null,
  now: Date = new Date(),
): EvaluationObjectStatus {
  const result = evaluation.result;
  const terminal = isTerminal(evaluation.status);
  const status: EvaluationObjectStatus = {
    phase: phaseOf(evaluation.status),
    evaluationId: evaluation.id,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    submittedAt: evaluation.timings.submittedAt,
    startedAt: evaluation.timings.startedAt,
    finishedAt: evaluation.timings.finishedAt,
  };
  if (result) {
    status.exitCode = result.exitCode;
    status.signal = result.signal;
    status.reason = result.reason;
    status.message = result.message;
    status.durationMs = result.durationMs;
    status.duration = result.durationMs === null ? null : humanDuration(result.durationMs);
  }
  if (terminal && output) {
    const stdout = truncateUtf8(output.stdout, STATUS_OUTPUT_BYTES);
    const stderr = truncateUtf8(output.stderr, STATUS_OUTPUT_BYTES);
    status.stdout = stdout.text;
    status.stderr = stderr.text;
    status.stdoutTruncated = stdout.truncated || (result?.stdoutTruncated ?? false);
    status.stderrTruncated = stderr.truncated || (result?.stderrTruncated ?? false);
  }
  status.conditions = [
    {
      type: 'Complete',
      status: terminal ? 'True' : 'False',
      reason: status.phase!,
      ...(result?.message ? { message: result.message } : {}),
      lastTransitionTime:
        (terminal ? evaluation.timings.finishedAt : evaluation.timings.submittedAt) ?? now.toISOString(),
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    },
  ];
  return status;
}

/** A status for a spec the controller refused before submitting (the API server's schema let it through). */
export function refusedStatus(generation: number | undefined, message: string, now = new Date()) {
  return {
    phase: 'Error',
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    reason: 'invalid_spec',
    message,
    conditions: [
      {
        type: 'Complete',
        status: 'True',
        reason: 'Error',
        message,
        lastTransitionTime: now.toISOString(),
      },
    ],
  } satisfies EvaluationObjectStatus;
}
