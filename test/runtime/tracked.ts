import {
  applyEvent,
  DEFAULT_LIMITS,
  isTerminal,
  type Evaluation,
  type Limits,
  type LifecycleEvent,
  type Status,
} from '../../src/core/index.js';
import type { RunObserver, RunRequest } from '../../src/runtime/runtime.js';

/**
 * Runtime test helpers shared by every backend: an observer that feeds the real state machine, requests,
 * and polling for facts no event announces.
 */

/** One evaluation as the service would hold it: observer calls go through the real state machine. */
export class Tracked implements RunObserver {
  evaluation: Evaluation;
  stdout: Buffer[] = [];
  stderr: Buffer[] = [];
  calls: string[] = [];
  readonly transitions: { to: Status; at: number }[] = [];
  private waiters: { status: (s: Status) => boolean; resolve: () => void }[] = [];

  constructor(
    readonly request: RunRequest,
    readonly runtimeName = 'kubernetes',
  ) {
    const now = new Date().toISOString();
    this.evaluation = {
      id: request.evaluationId,
      status: 'queued',
      language: request.language,
      code: request.code,
      stdin: request.stdin,
      priority: request.priority,
      labels: request.labels,
      limits: request.limits,
      runtime: runtimeName,
      createdAt: now,
      timings: { submittedAt: now, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
      result: null,
    };
    this.apply({ type: 'dispatched', at: new Date(), runtime: runtimeName });
  }

  get out(): string {
    return Buffer.concat(this.stdout).toString('utf8');
  }
  get err(): string {
    return Buffer.concat(this.stderr).toString('utf8');
  }

  apply(event: LifecycleEvent): void {
    const next = applyEvent(this.evaluation, event, new Date());
    if (!next) return;
    this.evaluation = next.evaluation;
    this.transitions.push({ to: next.to, at: performance.now() });
    this.waiters = this.waiters.filter((w) => (w.status(next.to) ? (w.resolve(), false) : true));
  }

  started(at: Date): void {
    this.calls.push('started');
    this.apply({ type: 'started', at });
  }
  output(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (isTerminal(this.evaluation.status))
      throw new Error(`output after finished for ${this.request.evaluationId}`);
    (stream === 'stdout' ? this.stdout : this.stderr).push(data);
  }
  finished(outcome: Parameters<RunObserver['finished']>[0]): void {
    this.calls.push('finished');
    this.apply({ type: 'finished', outcome, output: { stdoutTruncated: false, stderrTruncated: false } });
  }

  /** Resolves when the evaluation reaches a status matching `predicate` (terminal by default). */
  until(predicate: (s: Status) => boolean = isTerminal): Promise<void> {
    if (predicate(this.evaluation.status)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ status: predicate, resolve }));
  }
}

let counter = 0;

export function request(
  code: string,
  overrides: Omit<Partial<RunRequest>, 'limits'> & { limits?: Partial<Limits> } = {},
): RunRequest {
  counter += 1;
  return {
    evaluationId:
      overrides.evaluationId ?? `ev-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 6)}`,
    language: overrides.language ?? 'python',
    code,
    stdin: overrides.stdin ?? '',
    limits: { ...DEFAULT_LIMITS, timeoutSeconds: 10, ...overrides.limits },
    priority: overrides.priority ?? 'normal',
    labels: overrides.labels ?? { team: 'testing' },
  };
}

/** Polls `condition` until it holds (for facts no event announces, like output that arrived). */
export async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
