/**
 * The wire types of the HTTP API (contract v1 / v1.1). The SDK depends on nothing of the server (no zod, no
 * fastify); the few types shared with the core model are imported as types only, erased at run time.
 * `test/client/types.test.ts` checks the answers' shapes match the server's schemas.
 */
import type { CompareOptions, LanguageInfo, ProgramFile, TestCase, TestVerdict } from '../core/index.js';
import type {
  ArtifactEntry,
  DroppedArtifact,
  Limits,
  LogSpill,
  Priority,
  StageDurations,
  Status,
  Submission,
  Timings as CoreTimings,
  Transition as CoreTransition,
} from '../core/index.js';

export type { Limits, LogSpill, Priority, StageDurations, Status, Submission };
export type { CompareOptions, LanguageInfo, ProgramFile, TestCase, TestVerdict };

/** `GET /v1/languages`. */
export interface LanguageList {
  readonly items: readonly LanguageInfo[];
}
export type { ArtifactEntry, DroppedArtifact };

/** `POST /v1/prune`. */
export interface PruneRequest {
  /** `30d`, `12h`, `90m`; default: the server's `--retention`. */
  readonly olderThan?: string;
  readonly dryRun?: boolean;
}

export interface PruneReport {
  /** The default's cutoff; null when only the server's `--retention-for` rules apply. */
  readonly cutoff: string | null;
  /** Per `--retention-for` rule with an age: its cutoff and how many of its evaluations went. */
  readonly rules: readonly { readonly rule: string; readonly cutoff: string; readonly evaluations: number }[];
  readonly dryRun: boolean;
  readonly evaluations: number;
  readonly objects: number;
  readonly durationMs: number;
  readonly storeBytesBefore: number;
  readonly storeBytesAfter: number;
}

/** `GET /v1/evaluations/{id}/artifacts`. */
export interface ArtifactList {
  readonly items: readonly (ArtifactEntry & { readonly contentType: string })[];
  readonly dropped: readonly DroppedArtifact[];
}

/** One artifact being downloaded: its bytes arrive from `body`. */
export interface ArtifactDownload {
  readonly contentType: string;
  /** Bytes in this answer (the range's, for a range request). */
  readonly size: number;
  readonly body: AsyncIterable<Uint8Array>;
}

/** Every stage timestamp; the platform stages (Kubernetes) are null where a backend has none. */
export type Timings = Required<CoreTimings>;

export type TerminalStatus = Exclude<Status, 'queued' | 'starting' | 'running'>;

export type LogStream = 'stdout' | 'stderr';

export interface Result {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: string | null;
  readonly message: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  /** False when output the program wrote was lost on the way; `message` says so. */
  readonly outputComplete: boolean;
  readonly durationMs: number | null;
  readonly cpuTimeMs: number | null;
  readonly peakMemoryBytes: number | null;
  readonly memoryEnforcement: string | null;
  /** Compiled languages: the compiler's output (docs/languages.md). */
  readonly compileOutput?: string;
  /** Submissions with `tests`: one verdict per test, and how many passed of how many. */
  readonly tests?: readonly TestVerdict[];
  readonly passed?: number;
  readonly total?: number;
  /** Files kept from `/artifacts` (docs/artifacts.md); absent when there were none. */
  readonly artifacts?: readonly ArtifactEntry[];
  /** Files found in `/artifacts` and not kept, and why; absent when none. */
  readonly artifactsDropped?: readonly DroppedArtifact[];
  /**
   * Output past the inline prefix (`stdout`/`stderr` above) kept in the object store (`maxLogBytes`): read
   * it with `logs(id)`, where it follows the stored lines numbered after `afterSeq`. Absent when none.
   */
  readonly logSpill?: LogSpill;
}

export interface Evaluation {
  readonly id: string;
  readonly status: Status;
  readonly language: string;
  readonly priority: Priority;
  readonly labels: Readonly<Record<string, string>>;
  readonly runtime: string;
  /** Who submitted it; null when it was submitted while the server's authentication was off. */
  readonly user: string | null;
  readonly limits: Limits;
  readonly createdAt: string;
  readonly result: Result | null;
  readonly timings: Timings;
  /** Stage durations derived from `timings` (queueMs, startMs, runMs, storeMs, totalMs). */
  readonly durations: StageDurations;
}

/**
 * A list item: an evaluation without its output (`stdout`/`stderr` are absent, not empty, and
 * `outputIncluded` is false); read one evaluation with `get`, or its logs, for the output.
 */
export interface EvaluationSummary extends Omit<Evaluation, 'result'> {
  readonly result: Omit<Result, 'stdout' | 'stderr'> | null;
  readonly outputIncluded: false;
}

export interface Page {
  readonly items: EvaluationSummary[];
  readonly nextCursor: string | null;
}

export interface ListQuery {
  readonly status?: Status;
  /** `key=value`: only evaluations carrying this label. */
  readonly label?: string;
  /** Page size, 1–500 (server default 50). */
  readonly limit?: number | string;
  readonly cursor?: string;
  /** Only this batch's evaluations (`submitBatch`), last item first; combines with `status` only. */
  readonly batch?: string;
  /** Only this user's evaluations (admins; others may name only themselves). */
  readonly user?: string;
}

/** One chunk of output: `data` when it is text on its own, `base64` when it is not. */
export interface LogLine {
  readonly seq: number;
  readonly stream: LogStream;
  readonly at: string;
  readonly data?: string;
  readonly base64?: string;
}

/**
 * One recorded status change (`GET /v1/evaluations/{id}/transitions`, `GET /v1/events`). `reason` is any
 * string on the wire, so a client keeps working when a newer server adds a reason.
 */
export type Transition = Omit<CoreTransition, 'reason'> & { readonly reason: string | null };

export interface QueueStats {
  readonly queued: { readonly high: number; readonly normal: number; readonly low: number };
  /** Of the queued: those whose Kubernetes Job waits, suspended, for Kueue's admission (`--kueue-queue`). */
  readonly awaitingAdmission: number;
  /** Starting or running across every replica. */
  readonly running: number;
  /** The global limit (or the answering replica's slots when there is none). */
  readonly capacity: number;
  /** The replica that answered. */
  readonly replica: {
    readonly id: string;
    /** Slots it holds. */
    readonly running: number;
    readonly slots: number;
    /** False on a follower that serves the API only (leader election). */
    readonly working: boolean;
  };
}

export interface Health {
  readonly status: string;
}

export interface Readiness {
  /** `ready`, or `starting` while the server recovers (then `ready()` answers it instead of throwing). */
  readonly status: string;
  readonly runtime?: string;
}

/** The error body every failed API call answers with. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly field: string | null };
}

const TERMINAL: readonly string[] = ['succeeded', 'failed', 'timed_out', 'cancelled', 'error'];

export function isTerminal(status: Status): status is TerminalStatus {
  return TERMINAL.includes(status);
}

/** One attempt to deliver an evaluation's webhook. */
export interface DeliveryAttempt {
  readonly attempt: number;
  readonly at: string;
  /** The receiver's HTTP status; null when none came (refused, unreachable, no answer in time). */
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  /** When the next attempt is due; null when this one ended the delivery. */
  readonly nextAttemptAt: string | null;
}

/** `GET /v1/evaluations/{id}/deliveries`: the webhook delivery (null until terminal, or without one). */
export interface WebhookDeliveries {
  readonly webhook: {
    /** The `webhook-id` header, the same on every attempt. */
    readonly id: string;
    readonly url: string;
    readonly state: 'pending' | 'delivered' | 'failed';
    readonly attempts: number;
    readonly nextAttemptAt: string | null;
    readonly createdAt: string;
  } | null;
  readonly items: readonly DeliveryAttempt[];
}

/** `POST /v1/batches`: the batch id and its evaluations' ids, in item order. */
export interface SubmittedBatch {
  readonly id: string;
  readonly evaluationIds: readonly string[];
}

/** `GET /v1/batches/{id}`: its items' counts by status; `done` once every one is terminal. */
export interface Batch {
  readonly id: string;
  readonly total: number;
  readonly byStatus: Readonly<Record<Status, number>>;
  readonly done: boolean;
  readonly createdAt: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** `POST /v1/tokens`: who the token is for, and their quotas (null or absent: none). */
export interface NewToken {
  readonly user: string;
  readonly admin?: boolean;
  readonly maxRunning?: number | null;
  readonly maxQueued?: number | null;
  readonly ratePerMinute?: number | null;
}

/** A token as `GET /v1/tokens` lists it: never its secret. */
export interface TokenInfo {
  readonly id: string;
  readonly user: string;
  readonly admin: boolean;
  readonly maxRunning: number | null;
  readonly maxQueued: number | null;
  readonly ratePerMinute: number | null;
  readonly createdAt: string;
}

/** A token just created: `token` is its secret, shown this once (the server keeps only a hash). */
export interface CreatedToken extends TokenInfo {
  readonly token: string;
}

/** `GET /v1/usage`: the window (default the week before now) and the grouping (default `user`). */
export interface UsageQuery {
  /** Evaluations that finished at or after this instant (a `Date`, or ISO 8601 text with a zone)… */
  readonly from?: Date | string;
  /** …and before this one (default now); at most 366 days after `from`. */
  readonly to?: Date | string;
  /** `'user'`, or `'label:KEY'` for the value of one label (evaluations without it under key null). */
  readonly groupBy?: 'user' | `label:${string}`;
}

/** One group of a usage report (docs/usage.md says what each figure measures and its limits). */
export interface UsageItem {
  /** The user or the label's value; null: none (submitted with authentication off, or without the label). */
  readonly key: string | null;
  readonly evaluations: number;
  readonly byStatus: Readonly<Record<TerminalStatus, number>>;
  /** Σ started → finished, seconds. */
  readonly wallSeconds: number;
  /** Σ CPU time (user + system) as the backend measured it, seconds. */
  readonly cpuSeconds: number;
  /** Σ peak memory (MiB) × wall seconds: an upper bound of the memory held over time. */
  readonly memoryMbSeconds: number;
}

/** A usage report: users get their own usage, admins everyone's. */
export interface UsageReport {
  /** The window covered, defaults filled in (UTC): evaluations that finished in [from, to). */
  readonly from: string;
  readonly to: string;
  readonly groupBy: string;
  readonly items: readonly UsageItem[];
}
