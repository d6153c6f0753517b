import type { V1Job } from '@kubernetes/client-node';
import {
  applyEvent,
  DEFAULT_LIMITS,
  isTerminal,
  type Evaluation,
  type Limits,
  type LifecycleEvent,
  type Status,
} from '../../src/core/index.js';
import {
  createKubernetesRuntime,
  type KubernetesRuntimeOptions,
} from '../../src/runtime/kubernetes/index.js';
import type { RunObserver, RunRequest, Runtime } from '../../src/runtime/runtime.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';

/** Tuning that makes the fake fast: short backoffs, bookmarks and idle timeouts so faults heal in ms. */
export const FAST: KubernetesRuntimeOptions = {
  namespace: 'crucible-test',
  backoffInitialMs: 20,
  backoffMaxMs: 300,
  watchIdleTimeoutMs: 600,
  logRetryMs: 20,
  logGraceSeconds: 5,
  unschedulableGraceSeconds: 0.3,
  deadlineAllowanceSeconds: 0,
};

/** One evaluation as the service would hold it: observer calls go through the real state machine. */
export class Tracked implements RunObserver {
  evaluation: Evaluation;
  stdout: Buffer[] = [];
  stderr: Buffer[] = [];
  calls: string[] = [];
  readonly transitions: { to: Status; at: number }[] = [];
  private waiters: { status: (s: Status) => boolean; resolve: () => void }[] = [];

  constructor(readonly request: RunRequest) {
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
      runtime: 'kubernetes',
      createdAt: now,
      timings: { submittedAt: now, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null },
      result: null,
    };
    this.apply({ type: 'dispatched', at: new Date(), runtime: 'kubernetes' });
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

export interface Env {
  cluster: FakeCluster;
  runtime: Runtime;
  warnings: string[];
  run(req: RunRequest): Promise<Tracked>;
  close(): Promise<void>;
}

export async function setup(options: KubernetesRuntimeOptions = {}): Promise<Env> {
  const cluster = await startFakeCluster();
  // Bookmarks more often than the runtime's idle timeout, so only a half-open watch looks silent.
  cluster.server.faults.bookmarkIntervalMs = 150;
  const warnings: string[] = [];
  const runtime = await createKubernetesRuntime({
    ...FAST,
    ...options,
    kubeconfigPath: cluster.kubeconfigPath,
    warn: (m) => warnings.push(m),
  });
  return {
    cluster,
    runtime,
    warnings,
    async run(req) {
      const tracked = new Tracked(req);
      await runtime.start(req, tracked);
      return tracked;
    },
    async close() {
      await runtime.close();
      await cluster.close();
    },
  };
}

/** Resolves when no Job of Crucible is left in the fake cluster (deleted after results were stored). */
export async function jobsGone(cluster: FakeCluster, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const jobs = cluster.store.list('jobs', 'crucible-test') as unknown as V1Job[];
    const pods = cluster.store.list('pods', 'crucible-test');
    if (jobs.length === 0 && pods.length === 0) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** Polls `condition` until it holds (for facts no event announces, like output that arrived). */
export async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
