import type { MemoryEnforcement, PlatformStages, Reason } from './evaluation.js';

import type { CompileFacts, TestRun } from './grading.js';

/** What a runtime reports when a program has ended. Runtimes describe facts; the state machine decides. */
export type RunOutcome = ExitedOutcome | PlatformErrorOutcome;

export interface ExitedOutcome {
  readonly kind: 'exited';
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly cpuTimeMs: number | null;
  readonly peakMemoryBytes: number | null;
  readonly memoryEnforcement: MemoryEnforcement;
  /**
   * False when the runtime knows that output the program wrote never reached it (e.g. the end of a pod
   * log could not be read). Absent means true.
   */
  readonly outputComplete?: boolean;
  /** Compiled languages: what the compile stage observed (a failed compile ran no program). */
  readonly compile?: CompileFacts;
  /** Submissions with tests: one run per test, in order (the exit fields above are the last run's). */
  readonly testRuns?: readonly TestRun[];
  /** The platform's own stages as it last saw them (Kubernetes); absent where there are none. */
  readonly platform?: Partial<PlatformStages>;
}

/** The platform could not run the program at all; never used for the program's own faults. */
export interface PlatformErrorOutcome {
  readonly kind: 'error';
  readonly reason: Extract<
    Reason,
    | 'image_pull'
    | 'config_error'
    | 'unschedulable'
    | 'infrastructure'
    | 'sandbox_error'
    | 'lost_on_restart'
    | 'cluster_unreachable'
    | 'container_start_failed'
    | 'quota_exceeded'
  >;
  readonly message: string;
  readonly at: Date;
  /** The platform stages reached before it failed (a Job created, a pod scheduled); absent: none. */
  readonly platform?: Partial<PlatformStages>;
}
