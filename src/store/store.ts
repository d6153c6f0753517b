import type {
  Evaluation,
  LogChunk,
  OutputStream,
  Priority,
  Project,
  Reason,
  Status,
  Transition,
} from '../core/index.js';
import type { TokenStore } from './tokens.js';
import type { BatchStore } from './batches.js';
import type { WebhookStore } from './webhooks.js';
import type { QuotaStore } from './quotas.js';
import type { UsageStore } from './usage.js';
import type { RetentionStore } from './retention.js';
import type { SandboxStore } from './sandboxes.js';

export type * from './webhooks.js';
export type * from './batches.js';
export { BatchIdempotencyKeyTaken } from './batches.js';
export type * from './tokens.js';
export type * from './quotas.js';
export type * from './usage.js';
export type * from './retention.js';
export type * from './sandboxes.js';
export { TokenTaken } from './tokens.js';

export interface ListQuery {
  readonly status?: Status;
  /** `key=value` label filter. */
  readonly label?: { readonly key: string; readonly value: string };
  /** Only evaluations of this project id. */
  readonly project?: string;
  /** Only evaluations this user submitted. */
  readonly user?: string;
  readonly limit: number;
  /** Opaque cursor from a previous page. */
  readonly cursor?: string;
}

export interface ListPage {
  readonly items: Evaluation[];
  readonly nextCursor: string | null;
}

export interface TransitionWrite {
  /** The evaluation after the transition (status, timings and result already applied). */
  readonly evaluation: Evaluation;
  readonly from: Status;
  readonly to: Status;
  readonly at: string;
  readonly reason: Reason | null;
}

/** A submission's idempotency key, scoped to its caller; `fingerprint` tells a true repeat from a new body. */
export interface IdempotencyKey {
  readonly scope: string;
  readonly key: string;
  readonly fingerprint: string;
}

export interface IdempotentSubmission {
  readonly evaluationId: string;
  readonly fingerprint: string;
}

/** Thrown by `create` when another submission already holds the idempotency key (e.g. on another replica). */
export class IdempotencyKeyTaken extends Error {
  constructor(key: IdempotencyKey) {
    super(`idempotency key "${key.key}" is already taken`);
    this.name = 'IdempotencyKeyTaken';
  }
}

/** What `claimQueued` needs to start queued evaluations on one replica. */
export interface ClaimRequest {
  /** The replica that will run what it claims; recorded as the evaluations' owner. */
  readonly owner: string;
  /** Claim at most this many (the replica's free slots). */
  readonly max: number;
  /**
   * Nothing more is claimed while this many evaluations are `starting` or `running` across every replica
   * sharing the store: the global concurrency limit.
   */
  readonly globalConcurrency: number;
  /**
   * Queue order across priorities: ascending `submittedAt (epoch ms) + rank × agingMs` (rank 0/1/2 for
   * high/normal/low) of each priority's next evaluation, ties in creation order. An evaluation that waited one
   * aging interval longer beats another by one priority level. Within a priority, the fair order: users with
   * work queued take turns; one user's (or anonymous) evaluations stay FIFO.
   */
  readonly agingMs: number;
  /**
   * Per-user `maxRunning` (user → limit): a user's evaluations starting, running or held never pass it; theirs
   * wait queued while others are claimed past them. Users not named (and evaluations without a user) have no
   * limit. Within a priority, users take turns (fair share, docs/scheduling.md).
   */
  readonly maxRunning?: Readonly<Record<string, number>>;
  /**
   * Pure (no I/O), called inside the claiming transaction: what to do with one queued evaluation (see
   * `ClaimDecision`).
   */
  readonly dispatch: (evaluation: Evaluation) => ClaimDecision;
}

/**
 * - a transition: its `dispatched` transition (the state machine's decision): claimed, now `starting`;
 * - `hold`: claimed for `owner` but left `queued`, with no transition, because its run waits for an
 *   admission outside Crucible (a Kueue-suspended Job). It holds a slot: it counts against the global limit,
 *   no claim takes it again, and its owner records `queued` → `starting` at the admission;
 * - null: leave it queued and unowned (another claim may take it).
 */
export type ClaimDecision = TransitionWrite | 'hold' | null;

export interface Claimed {
  /** The evaluation after its `dispatched` transition, or as it was (still `queued`) when held. */
  readonly evaluation: Evaluation;
  /** Its `dispatched` transition; null when it was held (still `queued`, owned). */
  readonly transition: Transition | null;
}

export interface OwnedEvaluation {
  readonly evaluation: Evaluation;
  /** The replica that claimed it; null for rows from before ownership existed. */
  readonly owner: string | null;
}

export interface QueueCounts {
  /** Every `queued` evaluation by priority, held ones (`awaitingAdmission`) included. */
  readonly queued: Record<Priority, number>;
  /** `starting` + `running`, across every replica. */
  readonly active: number;
  /**
   * `queued` evaluations held by an owner (claimed with `hold`, waiting for an outside admission), also in
   * `queued`. The global limit counts `active + awaitingAdmission`.
   */
  readonly awaitingAdmission: number;
}

/**
 * A change committed by any process sharing the store, delivered after its commit. Carries no data: the reader
 * reads the store (transitions after its last seq, an evaluation's chunks after its last seq).
 */
export type StoreChange =
  /**
   * Transitions were committed. A store may carry them, in seq order, and say whether this very store instance
   * wrote them (`local`); without them, read the store.
   */
  | {
      readonly kind: 'transition';
      readonly transitions?: readonly Transition[];
      readonly local?: boolean;
      /** When they were committed, ms since the epoch by the store's clock (with `transitions`). */
      readonly committedAt?: number;
    }
  | { readonly kind: 'log'; readonly evaluationId: string }
  /** Changes may have been missed (the notification connection was lost and is back): reread everything. */
  | { readonly kind: 'resync' };

export interface LogRead {
  readonly afterSeq?: number;
  readonly stream?: OutputStream;
  readonly limit?: number;
}

/** Thrown by `createProject` when another project already has the name (nothing is written). */
export class ProjectNameTaken extends Error {
  constructor(readonly projectName: string) {
    super(`a project named "${projectName}" already exists`);
    this.name = 'ProjectNameTaken';
  }
}

/** Projects, in the same database as their evaluations (conformance: `test/store/conformance-projects.ts`). */
export interface ProjectStore {
  /** @throws ProjectNameTaken when the name is taken */
  createProject(project: Project): Promise<void>;
  getProject(id: string): Promise<Project | null>;
  /** Oldest first. */
  listProjects(): Promise<Project[]>;
  /** True when it existed. The project's evaluations stay, still naming it (history). */
  deleteProject(id: string): Promise<boolean>;
}

/**
 * Persistence in domain words. Every adapter (SQLite, PostgreSQL) passes the conformance suite in
 * `test/store/conformance.ts`. No driver types cross this line.
 */
export interface EvaluationStore {
  /** Applies numbered migrations; refuses a database whose schema is newer than this code. */
  migrate(): Promise<void>;
  /**
   * Inserts a new evaluation (status `queued`) and its first transition, and records its idempotency key in
   * the same transaction when given one.
   *
   * @throws IdempotencyKeyTaken when the key is already recorded for its scope (nothing is written)
   */
  create(evaluation: Evaluation, idempotency?: IdempotencyKey): Promise<Transition>;
  /** The submission that recorded this key in this scope, if any. Keys live as long as their evaluation. */
  findIdempotent(scope: string, key: string): Promise<IdempotentSubmission | null>;
  get(id: string): Promise<Evaluation | null>;
  /** Newest first. */
  list(query: ListQuery): Promise<ListPage>;
  /**
   * Compare-and-set: writes the transition only if the stored status is still `from`, so two writers can never
   * both move an evaluation (e.g. a cancel racing a finish). Returns null when it lost the race.
   */
  saveTransition(write: TransitionWrite): Promise<Transition | null>;
  /**
   * Transitions with `seq > afterSeq`, oldest first: SSE resume reads this. Never skips a late commit: once a
   * reader has seen `seq` N, no transition with a smaller seq may commit afterwards (PostgreSQL sequences
   * commit out of order, so its adapter hands out seqs in commit order — see its docs).
   */
  transitionsAfter(afterSeq: number, limit: number): Promise<Transition[]>;
  /** The highest transition seq committed so far (0 when there is none): where a live feed starts reading. */
  latestTransitionSeq(): Promise<number>;
  /** Transitions of one evaluation, oldest first. */
  transitionsOf(evaluationId: string): Promise<Transition[]>;
  appendLogs(chunks: readonly LogChunk[]): Promise<void>;
  /** Chunks oldest first. */
  readLogs(evaluationId: string, read?: LogRead): Promise<LogChunk[]>;
  /** Every evaluation in one of these statuses, oldest first (restart recovery and queue rebuild). */
  listByStatus(statuses: readonly Status[]): Promise<Evaluation[]>;

  /**
   * True when several server processes may share this store (PostgreSQL): it then has `watchChanges` and
   * live leases of other processes. False for SQLite: one process per database file.
   */
  readonly shared: boolean;
  /**
   * Atomically claims up to `max` queued evaluations that have no owner, in queue order, for `owner`, never
   * letting the number of `starting`/`running` evaluations plus held ones (`queued` with an owner) across all
   * replicas exceed `globalConcurrency`; each claimed one gets its owner and, unless `dispatch` holds it, its
   * `dispatched` transition, in the same transaction. Two replicas claiming at once never claim the same
   * evaluation, and neither waits for the other's rows (SKIP LOCKED).
   */
  claimQueued(request: ClaimRequest): Promise<Claimed[]>;
  /** Queued evaluations by priority and the active count, across every replica. */
  queueCounts(): Promise<QueueCounts>;
  /**
   * Registers or renews a replica's lease for `ttlMs` from now, by the store's clock (replica clocks may
   * disagree). SQLite keeps leases in memory: after a restart no earlier owner is alive.
   */
  renewLease(replica: string, ttlMs: number): Promise<void>;
  /** Ends a replica's lease at once (clean shutdown). */
  dropLease(replica: string): Promise<void>;
  /**
   * Records the URL other replicas reach this one at on its lease row (kept across renewals), for calls on a
   * sandbox live here. SQLite: this process only.
   */
  advertiseReplica?(replica: string, url: string): Promise<void>;
  /** A replica whose lease is alive, with the URL it advertised (null: none); null when its lease ran out. */
  liveReplica?(replica: string): Promise<{ readonly url: string | null } | null>;
  /**
   * `starting`/`running` evaluations whose owner holds no live lease (or that have none), and held ones
   * (`queued` with an owner) whose owner holds no live lease, oldest first.
   */
  listOrphans(): Promise<OwnedEvaluation[]>;
  /** Evaluations in these statuses owned by `owner`, oldest first. */
  listOwned(owner: string, statuses: readonly Status[]): Promise<Evaluation[]>;
  /** Compare-and-set on the owner: true when the evaluation was owned by `from` and now is by `to`. */
  transferOwnership(evaluationId: string, from: string | null, to: string): Promise<boolean>;
  /**
   * Shared stores only: calls `listener` after every committed transition and log append of any process, and
   * with `resync` when notifications may have been lost. Resolves once listening; the result stops it.
   */
  watchChanges?(listener: (change: StoreChange) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /** Projects, when the adapter stores them (both built-in adapters do). */
  readonly projects?: ProjectStore;
  /** The webhook outbox, when the adapter keeps one (both built-in adapters do). */
  readonly webhooks?: WebhookStore;
  /** Batches of evaluations written at once, when the adapter keeps them (both built-in adapters do). */
  readonly batches?: BatchStore;
  /** API tokens (hashed), when the adapter keeps them (both built-in adapters do). */
  readonly tokens?: TokenStore;
  /** Usage of finished evaluations, summed in the database (both built-in adapters do; docs/usage.md). */
  readonly usage?: UsageStore;
  /** Deleting old terminal evaluations (both built-in adapters; docs/retention.md). */
  readonly retention?: RetentionStore;
  /** The counts the per-user quotas are checked against (both built-in adapters; docs/scheduling.md). */
  readonly quotas?: QuotaStore;
  /** Interactive sandboxes, their execs and exec logs (both built-in adapters; docs/sandboxes.md). */
  readonly sandboxes?: SandboxStore;
}
