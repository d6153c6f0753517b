import type { Evaluation, LogChunk, OutputStream, Reason, Status, Transition } from '../core/index.js';

export interface ListQuery {
  readonly status?: Status;
  /** `key=value` label filter. */
  readonly label?: { readonly key: string; readonly value: string };
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

export interface LogRead {
  readonly afterSeq?: number;
  readonly stream?: OutputStream;
  readonly limit?: number;
}

/**
 * Persistence in domain words. Every adapter (SQLite today, PostgreSQL later) passes the conformance suite in
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
  /** Transitions with `seq > afterSeq`, oldest first: SSE resume reads this. */
  transitionsAfter(afterSeq: number, limit: number): Promise<Transition[]>;
  /** Transitions of one evaluation, oldest first. */
  transitionsOf(evaluationId: string): Promise<Transition[]>;
  appendLogs(chunks: readonly LogChunk[]): Promise<void>;
  /** Chunks oldest first. */
  readLogs(evaluationId: string, read?: LogRead): Promise<LogChunk[]>;
  /** Every evaluation in one of these statuses, oldest first (restart recovery and queue rebuild). */
  listByStatus(statuses: readonly Status[]): Promise<Evaluation[]>;
  close(): Promise<void>;
}
