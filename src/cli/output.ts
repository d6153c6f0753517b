import { constants } from 'node:os';
import type { Evaluation as EvaluationView } from '../client/index.js';

/**
 * The exit code `crucible run` ends with: the program's own code when it exited; 128+N for a signal (as a
 * shell does); 124 for a time-out (as `timeout(1)` does); 130 when cancelled; 125 when the platform failed.
 */
export function exitCodeOf(evaluation: EvaluationView): number {
  const result = evaluation.result;
  switch (evaluation.status) {
    case 'succeeded':
      return 0;
    case 'timed_out':
      return 124;
    case 'cancelled':
      return 130;
    case 'error':
      return 125;
    case 'failed': {
      if (result?.exitCode !== null && result?.exitCode !== undefined) return result.exitCode;
      const signal = result?.signal as keyof typeof constants.signals | null | undefined;
      const number = signal ? constants.signals[signal] : undefined;
      return number ? 128 + number : 1;
    }
    case 'queued':
    case 'starting':
    case 'running':
      return 125;
  }
}

/** One line for people: what happened and why, with the figures that matter. */
export function describe(evaluation: EvaluationView): string {
  const r = evaluation.result;
  const parts = [`${evaluation.id}  ${evaluation.status}`];
  if (r?.reason) parts.push(`reason=${r.reason}`);
  if (r?.exitCode !== null && r?.exitCode !== undefined) parts.push(`exit=${r.exitCode}`);
  if (r?.signal) parts.push(`signal=${r.signal}`);
  if (r?.durationMs !== null && r?.durationMs !== undefined) parts.push(`${r.durationMs}ms`);
  if (r?.peakMemoryBytes) parts.push(`peak=${(r.peakMemoryBytes / 1048576).toFixed(1)}MiB`);
  if (r?.stdoutTruncated || r?.stderrTruncated) parts.push('output truncated');
  if (r?.message) parts.push(`— ${r.message}`);
  return parts.join('  ');
}
