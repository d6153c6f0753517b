import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  applyEvent,
  classifyOutcome,
  type Evaluation,
  type RunOutcome,
} from '../../src/core/index.js';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const noTruncation = { stdoutTruncated: false, stderrTruncated: false };

function queued(): Evaluation {
  return {
    id: 'e1',
    status: 'queued',
    language: 'python',
    code: 'print(1)',
    stdin: '',
    priority: 'normal',
    labels: {},
    limits: DEFAULT_LIMITS,
    runtime: 'bwrap',
    createdAt: t0.toISOString(),
    timings: {
      submittedAt: t0.toISOString(),
      dispatchedAt: null,
      startedAt: null,
      finishedAt: null,
      storedAt: null,
    },
    result: null,
  };
}

function exited(overrides: Partial<Extract<RunOutcome, { kind: 'exited' }>> = {}): RunOutcome {
  return {
    kind: 'exited',
    exitCode: 0,
    signal: null,
    timedOut: false,
    oomKilled: false,
    startedAt: at(10),
    finishedAt: at(30),
    cpuTimeMs: 5,
    peakMemoryBytes: 1000,
    memoryEnforcement: 'cgroup',
    ...overrides,
  };
}

describe('state machine', () => {
  it('walks queued → starting → running → succeeded and stamps each stage', () => {
    const d = applyEvent(queued(), { type: 'dispatched', at: at(1), runtime: 'bwrap' }, at(1))!;
    expect(d.to).toBe('starting');
    const s = applyEvent(d.evaluation, { type: 'started', at: at(10) }, at(11))!;
    expect(s.to).toBe('running');
    const f = applyEvent(
      s.evaluation,
      { type: 'finished', outcome: exited(), output: noTruncation },
      at(32),
    )!;
    expect(f.to).toBe('succeeded');
    expect(f.evaluation.timings).toEqual({
      submittedAt: at(0).toISOString(),
      dispatchedAt: at(1).toISOString(),
      startedAt: at(10).toISOString(),
      finishedAt: at(30).toISOString(),
      storedAt: at(32).toISOString(),
    });
    expect(f.evaluation.result).toMatchObject({ exitCode: 0, durationMs: 20, reason: null });
  });

  it('ignores repeated, late and backward events', () => {
    const d = applyEvent(queued(), { type: 'dispatched', at: at(1), runtime: 'bwrap' }, at(1))!.evaluation;
    expect(applyEvent(d, { type: 'dispatched', at: at(2), runtime: 'bwrap' }, at(2))).toBeNull();
    const done = applyEvent(
      d,
      { type: 'finished', outcome: exited(), output: noTruncation },
      at(40),
    )!.evaluation;
    expect(applyEvent(done, { type: 'started', at: at(50) }, at(50))).toBeNull();
    expect(applyEvent(done, { type: 'cancelled', at: at(60), output: noTruncation }, at(60))).toBeNull();
    expect(
      applyEvent(done, { type: 'finished', outcome: exited({ exitCode: 1 }), output: noTruncation }, at(70)),
    ).toBeNull();
  });

  it('accepts jumps: queued straight to a terminal status, taking startedAt from the outcome', () => {
    const f = applyEvent(
      queued(),
      { type: 'finished', outcome: exited({ exitCode: 2 }), output: noTruncation },
      at(50),
    )!;
    expect(f.from).toBe('queued');
    expect(f.to).toBe('failed');
    expect(f.evaluation.timings.startedAt).toBe(at(10).toISOString());
  });

  it('cancels with reason cancelled and a duration only when it had started', () => {
    const q = applyEvent(queued(), { type: 'cancelled', at: at(5), output: noTruncation }, at(5))!;
    expect(q.evaluation.result).toMatchObject({ reason: 'cancelled', durationMs: null });
    const running = applyEvent(queued(), { type: 'started', at: at(10) }, at(10))!.evaluation;
    const c = applyEvent(running, { type: 'cancelled', at: at(110), output: noTruncation }, at(111))!;
    expect(c.evaluation.result?.durationMs).toBe(100);
  });
});

describe('classifyOutcome', () => {
  it.each([
    [exited(), 'succeeded', null],
    [exited({ exitCode: 3 }), 'failed', 'exit_code'],
    [exited({ exitCode: null, signal: 'SIGSEGV' }), 'failed', 'signal'],
    [exited({ exitCode: null, signal: 'SIGKILL', oomKilled: true }), 'failed', 'oom'],
    [exited({ exitCode: null, signal: 'SIGKILL', timedOut: true, oomKilled: true }), 'timed_out', 'timeout'],
    [
      { kind: 'error', reason: 'image_pull', message: 'no image', at: at(1) } as RunOutcome,
      'error',
      'image_pull',
    ],
  ])('%j → %s', (outcome, status, reason) => {
    const result = classifyOutcome(outcome, noTruncation);
    expect(result.status).toBe(status);
    expect(result.result.reason).toBe(reason);
  });
});
