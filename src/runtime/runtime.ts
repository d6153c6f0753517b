import type { CollectedFile } from './artifacts.js';
import type {
  Limits,
  OutputStream,
  PlatformStages,
  Priority,
  ProjectPlacement,
  RunOutcome,
} from '../core/index.js';

import type { Grading } from '../core/grading.js';
import type { LanguageCatalogue } from '../core/language-catalogue.js';

/** Everything a runtime needs to run one evaluation. */
export interface RunRequest {
  readonly evaluationId: string;
  readonly language: string;
  readonly code: string;
  readonly stdin: string;
  readonly limits: Limits;
  readonly priority: Priority;
  readonly labels: Readonly<Record<string, string>>;
  /** The evaluation's project, if any: the Kubernetes runtime runs it in the project's namespace. */
  readonly project?: ProjectPlacement;
  /** Extra files and test cases; absent or null: one plain run of `code`. */
  readonly grading?: Grading | null;
}

/**
 * How a runtime reports what happens to a run. Calls may repeat or arrive late (a watch relists, a process
 * exits while being cancelled): the state machine behind the observer ignores what changes nothing.
 * `output` may be called after `finished` only never: a runtime delivers all output before `finished`.
 */
export interface RunObserver {
  /**
   * A run that waited for an admission outside Crucible (see `Runtime.awaitsAdmission`) was admitted: its
   * platform may now start it. Called at most once, before `started`, and only for such runs.
   */
  admitted?(at: Date): void;
  /** The program started; `platform` carries the platform stages seen by then (Kubernetes). */
  started(at: Date, platform?: Partial<PlatformStages>): void;
  output(stream: OutputStream, data: Buffer): void;
  /**
   * A file the program left in `/artifacts`, collected after it ended and before `finished` (by code inside
   * the sandbox or the runner, never by the server following paths the program controls). Resolves once its
   * body was stored or drained; a runtime calls it one file at a time. Absent: the observer keeps none.
   */
  artifact?(file: CollectedFile): Promise<void>;
  /**
   * The run is over. The returned promise resolves once the result is persisted: a runtime that must clean
   * up something holding the only copy of the output (a Kubernetes Job) waits for it first.
   */
  finished(outcome: RunOutcome): void | Promise<void>;
}

/** Bytes of each stream already stored for a run, so an adopting runtime delivers only the rest. */
export type DeliveredBytes = Readonly<Record<OutputStream, number>>;

/**
 * A sandbox backend. Narrow on purpose: start, cancel, adopt after a restart, close. Backend-only features
 * (e.g. rendering Kubernetes manifests) live outside this interface.
 */
export interface Runtime {
  /** Name recorded on each evaluation, e.g. `bwrap`, `gvisor`, `none`, `kubernetes`. */
  readonly name: string;
  /** The languages it can run and their versions; absent: every language of the table, versions unknown. */
  readonly languages?: LanguageCatalogue;
  /**
   * Launches the run and resolves once it is launched (not when it ends); the observer hears the rest.
   * Rejects only when the platform cannot launch it at all.
   */
  start(request: RunRequest, observer: RunObserver): Promise<void>;
  /**
   * True when a run of this evaluation, once `start` launched it, waits for an admission outside Crucible (a
   * Job created suspended for Kueue). The service then claims it without dispatching it — it stays `queued`,
   * owned and holding a slot — and records `queued` → `starting` when the observer hears `admitted`. Absent:
   * never.
   */
  awaitsAdmission?(evaluation: { readonly project?: string | null }): boolean;
  /** Stops the run and every process it made. Idempotent; unknown ids are ignored. */
  cancel(evaluationId: string): Promise<void>;
  /**
   * After a Crucible restart: re-attach to a run that was in flight. `lost` means the runtime cannot find it
   * (a local sandbox dies with the server); the service then ends the evaluation as `error`/`lost_on_restart`.
   */
  adopt(request: RunRequest, observer: RunObserver, delivered?: DeliveredBytes): Promise<'adopted' | 'lost'>;
  /** Stops watchers and kills what is still running. */
  close(): Promise<void>;
  /**
   * How many runs of `memoryMb` the backend can admit at once, when it knows (a Kubernetes namespace's
   * ResourceQuota); null or absent when it sets no bound of its own.
   */
  suggestedConcurrency?(memoryMb: number): number | null;
  /** The clusters behind a backend that spreads runs over several (`GET /v1/clusters`); absent otherwise. */
  clusters?(): ClusterInfo[];
  /**
   * A project was deleted: remove what the runtime made for it (a Kubernetes namespace, with its Jobs). Its
   * evaluations were cancelled first. Absent when the runtime makes nothing per project (local).
   */
  removeProject?(project: ProjectPlacement): Promise<void>;
  /** A runtime that watches a cluster: its watch counters and event lag, for `/metrics`. Absent otherwise. */
  readonly watchTelemetry?: WatchTelemetry;
}

/** A watching runtime's counters for one watched kind (Kubernetes: `jobs`, `pods`, `projects:jobs`, …). */
export interface WatchCounters {
  readonly kind: string;
  /** List requests (pages), the first list included. */
  readonly lists: number;
  /** Watch connections opened again after the first (a stream that ended, failed or went silent). */
  readonly reconnects: number;
  /** Full relists because the watch's history expired (410 Gone). */
  readonly relists: number;
  readonly events: number;
  readonly errors: number;
}

/** What a runtime that watches a cluster tells `/metrics` (outside the core contract of a `Runtime`). */
export interface WatchTelemetry {
  counters(): WatchCounters[];
  /** Each watch event: seconds from the change the object records to the event's arrival. */
  onEvent(listener: (kind: string, lagSeconds: number) => void): () => void;
}

/** One cluster as `GET /v1/clusters` shows it. */
export interface ClusterInfo {
  readonly name: string;
  readonly health: 'healthy' | 'unreachable';
  /** ISO time its API stopped answering; null while healthy. */
  readonly unreachableSince: string | null;
  /** Evaluations Crucible placed there that have not finished. */
  readonly running: number;
  /** Evaluations of the default size its ResourceQuota admits at once; null when no quota bounds it. */
  readonly capacity: number | null;
  /** Why the last readiness probe failed; null when it answered. */
  readonly lastError: string | null;
}
