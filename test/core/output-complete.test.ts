import { describe, expect, it } from 'vitest';
import { classifyOutcome, type RunOutcome } from '../../src/core/index.js';
import { toEvaluationRow } from '../../src/store/sqlite/rows.js';

const noTruncation = { stdoutTruncated: false, stderrTruncated: false };
const exited: RunOutcome = {
  kind: 'exited',
  exitCode: 0,
  signal: null,
  timedOut: false,
  oomKilled: false,
  startedAt: new Date('2026-01-01T00:00:00Z'),
  finishedAt: new Date('2026-01-01T00:00:01Z'),
  cpuTimeMs: null,
  peakMemoryBytes: null,
  memoryEnforcement: 'kubernetes',
};

describe('outputComplete', () => {
  it('is true unless the runtime says output was lost, and then the message says so', () => {
    expect(classifyOutcome(exited, noTruncation).result).toMatchObject({
      outputComplete: true,
      message: null,
    });
    const lost = classifyOutcome({ ...exited, outputComplete: false }, noTruncation);
    expect(lost.status).toBe('succeeded');
    expect(lost.result.outputComplete).toBe(false);
    expect(lost.result.message).toMatch(/output is incomplete/);
    const error = classifyOutcome(
      { kind: 'error', reason: 'container_start_failed', message: 'StartError', at: new Date() },
      noTruncation,
    );
    expect(error.result).toMatchObject({ outputComplete: true, reason: 'container_start_failed' });
  });

  it('reads as true from rows stored before the field existed', () => {
    const old = {
      exitCode: 0,
      signal: null,
      reason: null,
      message: null,
      durationMs: 5,
      cpuTimeMs: null,
      peakMemoryBytes: null,
      memoryEnforcement: 'cgroup',
      stdoutTruncated: false,
      stderrTruncated: false,
    };
    const row = (result: object) => ({
      row_order: 1,
      id: 'e1',
      status: 'succeeded',
      language: 'python',
      code: 'print(1)',
      stdin: '',
      priority: 'normal',
      labels: '{}',
      limits: '{}',
      runtime: 'bwrap',
      created_at: '2026-01-01T00:00:00Z',
      submitted_at: '2026-01-01T00:00:00Z',
      dispatched_at: null,
      started_at: null,
      finished_at: null,
      stored_at: null,
      result: JSON.stringify(result),
      owner: null,
      project: null,
      user_name: null,
    });
    expect(toEvaluationRow(row(old)).evaluation.result?.outputComplete).toBe(true);
    const stored = toEvaluationRow(row({ ...old, outputComplete: false })).evaluation.result;
    expect(stored?.outputComplete).toBe(false);
  });
});
