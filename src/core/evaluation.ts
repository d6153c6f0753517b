import type { ArtifactEntry, DroppedArtifact } from './artifacts.js';
import type { CompareOptions, Grading, ProgramFile, TestCase, TestVerdict } from './grading.js';
import type { Limits } from './limits.js';
import type { LogSpill } from './log-spill.js';
import type { Priority } from './priority.js';
import type { Status } from './status.js';

export type OutputStream = 'stdout' | 'stderr';

/** How the memory limit was enforced for this run; the result states it so users know what they got. */
export type MemoryEnforcement = 'cgroup' | 'rlimit' | 'kubernetes' | 'none';

/** Why an evaluation ended the way it did (null when it simply exited 0). */
export type Reason =
  | 'exit_code'
  | 'signal'
  | 'oom'
  | 'timeout'
  | 'cancelled'
  | 'lost_on_restart'
  /** Its cluster's API did not answer for `clusterLostAfterSeconds` (more than one cluster); never re-run. */
  | 'cluster_unreachable'
  | 'image_pull'
  | 'config_error'
  | 'unschedulable'
  | 'infrastructure'
  | 'sandbox_error'
  /** The platform could not start the container (e.g. its entry binary is missing): not the program's fault. */
  | 'container_start_failed'
  /** Its project's ResourceQuota stayed exhausted for `quotaWaitSeconds`: no pod could be created. */
  | 'quota_exceeded'
  /** The program did not compile; `result.compileOutput` has the compiler's messages. */
  | 'compile_error'
  /** It ran its tests and at least one failed (`result.tests`, `passed` of `total`). */
  | 'tests_failed';

/**
 * Stages only a platform that schedules containers can observe (the Kubernetes backend: the Job's creation,
 * the pod's PodScheduled condition, the main container's start and end). Null where a backend has no such
 * stage (the local sandbox) or has not reached it yet.
 */
export interface PlatformStages {
  readonly jobCreatedAt: string | null;
  readonly podScheduledAt: string | null;
  readonly containerStartedAt: string | null;
  readonly containerFinishedAt: string | null;
}

/**
 * The stage timestamps. The platform stages are optional in the domain type (evaluations built before they
 * existed have none); the stores and the API always fill them, null where unknown.
 */
export interface Timings extends Partial<PlatformStages> {
  readonly submittedAt: string;
  readonly dispatchedAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly storedAt: string | null;
}

export interface Result {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: Reason | null;
  /** Human-readable detail for `error` and unusual endings. */
  readonly message: string | null;
  readonly durationMs: number | null;
  readonly cpuTimeMs: number | null;
  readonly peakMemoryBytes: number | null;
  readonly memoryEnforcement: MemoryEnforcement | null;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  /** False when output the program wrote was lost on the way (the result's `message` says so). */
  readonly outputComplete: boolean;
  /** Files the program left in `/artifacts`, stored (docs/artifacts.md); absent when it left none. */
  readonly artifacts?: readonly ArtifactEntry[];
  /** Files found there and not stored (over the cap, not regular files…); absent when none. */
  readonly artifactsDropped?: readonly DroppedArtifact[];
  /** Output past the inline prefix kept in the object store (`limits.maxLogBytes`); absent when none. */
  readonly logSpill?: LogSpill;
  /** Compiled languages: the compiler's output (absent for interpreted languages). */
  readonly compileOutput?: string;
  /** Submissions with `tests`: one verdict per test, and how many passed. */
  readonly tests?: readonly TestVerdict[];
  readonly passed?: number;
  readonly total?: number;
}

export interface Evaluation {
  readonly id: string;
  readonly status: Status;
  readonly language: string;
  readonly code: string;
  readonly stdin: string;
  readonly priority: Priority;
  readonly labels: Readonly<Record<string, string>>;
  readonly limits: Limits;
  /** Runtime backend that ran (or will run) it, e.g. `bwrap` or `kubernetes`. */
  readonly runtime: string;
  /** The project it belongs to (absent or null: none). */
  readonly project?: string | null;
  /** The user who submitted it (absent or null: submitted while authentication was off). */
  readonly user?: string | null;
  readonly createdAt: string;
  readonly timings: Timings;
  readonly result: Result | null;
  /** Extra files and test cases (absent or null: one plain run of `code`). */
  readonly grading?: Grading | null;
}

/** What a user asks for; defaults are filled in by the service. */
export interface Submission {
  readonly language: string;
  readonly code: string;
  readonly stdin?: string;
  readonly timeoutSeconds?: number;
  readonly memoryMb?: number;
  readonly priority?: Priority;
  readonly labels?: Record<string, string>;
  /** A project id: the evaluation runs under that project's namespace and limits. */
  readonly project?: string;
  /** Where its terminal status is POSTed, signed (docs/webhooks.md). */
  readonly webhook?: { readonly url: string };
  /** Cap of the files kept from `/artifacts`, within the server's bound (default: the server's). */
  readonly artifactsMb?: number;
  /** Bytes of output kept per stream, past the inline 1 MiB in the object store, within the server's bound. */
  readonly maxLogBytes?: number;
  /** Files written beside the entry file in `/code` (docs/languages.md). */
  readonly files?: readonly ProgramFile[];
  /** Test cases: the program runs once per test; the evaluation succeeds only when all pass. */
  readonly tests?: readonly TestCase[];
  /** How each test's stdout is compared with its `expectedStdout` (exact by default). */
  readonly compare?: CompareOptions;
}

/** One recorded status change; `seq` is global and increasing, the id of the SSE event. */
export interface Transition {
  readonly seq: number;
  readonly evaluationId: string;
  readonly from: Status | null;
  readonly to: Status;
  readonly at: string;
  readonly reason: Reason | null;
}

export interface LogChunk {
  readonly evaluationId: string;
  /** Per-evaluation sequence number, increasing from 1. */
  readonly seq: number;
  readonly stream: OutputStream;
  readonly data: Buffer;
  readonly at: string;
}
