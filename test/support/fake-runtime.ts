import type { RunOutcome } from '../../src/core/index.js';
import type { DeliveredBytes, RunObserver, RunRequest, Runtime } from '../../src/runtime/runtime.js';

/** One run in the scripted runtime: the test decides what the "program" does and when. */
export class FakeRun {
  alive = true;
  readonly startedAt = new Date();

  constructor(
    readonly request: RunRequest,
    readonly observer: RunObserver,
  ) {}

  /** Held for admission (`awaitsAdmission`): admitted and started now, then its script runs. */
  admitted?: () => Promise<void>;

  print(text: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    this.observer.output(stream, Buffer.from(text));
  }

  /** Ends the run; resolves with what `finished` returned (persisted) or rejected. */
  exit(exitCode = 0, signal: string | null = null): Promise<void> {
    this.alive = false;
    const outcome: RunOutcome = {
      kind: 'exited',
      exitCode,
      signal,
      timedOut: false,
      oomKilled: false,
      startedAt: this.startedAt,
      finishedAt: new Date(),
      cpuTimeMs: 1,
      peakMemoryBytes: 1024,
      memoryEnforcement: 'none',
    };
    return Promise.resolve(this.observer.finished(outcome));
  }
}

export interface FakeRuntimeOptions {
  /**
   * What each run does once launched. Default: prints its code to stdout and exits 0. Return without ending
   * to keep it running until the test ends it.
   */
  readonly script?: (run: FakeRun) => void | Promise<void>;
  /** Awaited inside `start` before the run exists: widens the launch window a cancel can race. */
  readonly launch?: (request: RunRequest) => Promise<void>;
  readonly adopt?: (
    request: RunRequest,
    observer: RunObserver,
    delivered?: DeliveredBytes,
  ) => 'adopted' | 'lost';
  /** Runs wait for an outside admission (as Kueue's): each starts only when the test calls `admit(id)`. */
  readonly awaitsAdmission?: boolean;
}

/**
 * A scripted in-memory runtime for in-process service and API tests. It keeps the `Runtime` contract: a
 * cancelled run is killed and reports `finished` (SIGKILL), like the local sandbox; `alive` tells what a real
 * backend would still be running.
 */
export class FakeRuntime implements Runtime {
  readonly name = 'fake';
  readonly runs = new Map<string, FakeRun>();
  readonly started: string[] = [];
  readonly #options: FakeRuntimeOptions;

  constructor(options: FakeRuntimeOptions = {}) {
    this.#options = options;
  }

  /** Runs still "executing": launched and neither exited nor killed. */
  get alive(): FakeRun[] {
    return [...this.runs.values()].filter((run) => run.alive);
  }

  async start(request: RunRequest, observer: RunObserver): Promise<void> {
    await this.#options.launch?.(request);
    const run = new FakeRun(request, observer);
    this.runs.set(request.evaluationId, run);
    this.started.push(request.evaluationId);
    const script =
      this.#options.script ??
      ((r: FakeRun) => {
        r.print(r.request.code);
        void r.exit(0);
      });
    const go = async () => {
      observer.started(run.startedAt);
      await script(run);
    };
    if (!this.#options.awaitsAdmission) return go();
    run.admitted = async () => {
      observer.admitted?.(new Date());
      await go();
    };
  }

  awaitsAdmission(): boolean {
    return this.#options.awaitsAdmission === true;
  }

  /** Admits a run held for admission (see `awaitsAdmission`). */
  async admit(evaluationId: string): Promise<void> {
    const run = this.runs.get(evaluationId);
    if (!run?.admitted) throw new Error(`${evaluationId} is not waiting for admission`);
    await run.admitted();
  }

  async cancel(evaluationId: string): Promise<void> {
    const run = this.runs.get(evaluationId);
    if (run?.alive) await run.exit(137, 'SIGKILL').catch(() => undefined);
  }

  async adopt(
    request: RunRequest,
    observer: RunObserver,
    delivered?: DeliveredBytes,
  ): Promise<'adopted' | 'lost'> {
    return this.#options.adopt?.(request, observer, delivered) ?? 'lost';
  }

  async close(): Promise<void> {
    for (const run of this.alive) await run.exit(137, 'SIGKILL').catch(() => undefined);
  }
}

/**
 * A script for usage tests: each run reports what its code asks for — `wallMs cpuMs peakMiB exitCode` — as a
 * backend measures them.
 */
export function measuredRun(run: FakeRun): void {
  const [wallMs = 0, cpuMs = 0, peakMib = 0, exitCode = 0] = run.request.code.split(' ').map(Number);
  const outcome: RunOutcome = {
    kind: 'exited',
    exitCode,
    signal: null,
    timedOut: false,
    oomKilled: false,
    startedAt: run.startedAt,
    finishedAt: new Date(run.startedAt.getTime() + wallMs),
    cpuTimeMs: cpuMs,
    peakMemoryBytes: peakMib * 1024 * 1024,
    memoryEnforcement: 'cgroup',
  };
  run.alive = false;
  void run.observer.finished(outcome);
}
