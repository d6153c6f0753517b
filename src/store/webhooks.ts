/**
 * The webhook outbox, in the same database as the evaluations (conformance: `test/store/conformance-webhooks.ts`).
 *
 * An evaluation's webhook target is registered before the evaluation is created. The delivery is enqueued by
 * the database itself, in the transaction that writes the evaluation's terminal transition (a trigger on the
 * status column, so every write path — a finish, a cancel, a claim, a lost run — enqueues it): a terminal
 * status is never committed without its delivery, and a delivery never exists for a status that was not.
 */

/**
 * What a delivery is about: one evaluation, or a batch whose items are all done (enqueued by the batch
 * progress trigger, id `msg_batch_<batch id>`; see `batches.ts`).
 */
export type WebhookSubjectKind = 'evaluation' | 'batch';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  /** The `webhook-id` header: the same on every attempt. `msg_<evaluation id>` for an evaluation's. */
  readonly id: string;
  readonly subjectKind: WebhookSubjectKind;
  readonly subjectId: string;
  readonly url: string;
  /** `delivered` after a 2xx answer; `failed` once the schedule ran out; `pending` until then. */
  readonly state: DeliveryState;
  /** Attempts made so far (recorded ones: an attempt in flight counts once its outcome is stored). */
  readonly attempts: number;
  /**
   * While pending, when it is due (epoch ms): the next attempt's time, or — while a replica holds it — when
   * that replica's claim runs out. 0 means at once. Null once delivered or failed.
   */
  readonly dueMs: number | null;
  readonly createdAt: string;
}

export interface DeliveryAttempt {
  readonly deliveryId: string;
  /** 1 for the first. */
  readonly attempt: number;
  readonly at: string;
  /** The receiver's HTTP status; null when none came (refused target, connection error, timeout). */
  readonly statusCode: number | null;
  /** Why the attempt failed; null when it succeeded. */
  readonly error: string | null;
  readonly durationMs: number;
  /** When the next attempt is due (ISO); null when this one ended the delivery. */
  readonly nextAttemptAt: string | null;
}

export interface DeliveryClaimRequest {
  /** The replica that will make the attempts; only its outcome records count while the claim lasts. */
  readonly owner: string;
  readonly max: number;
  /** The claimer's clock (epoch ms): deliveries due at or before it are claimed. */
  readonly nowMs: number;
  /** The claim lasts this long: a replica that dies mid-attempt leaves it due again after it. */
  readonly leaseMs: number;
}

export interface ClaimedDelivery {
  readonly delivery: WebhookDelivery;
  /** The number of the attempt to make now (attempts so far + 1). */
  readonly attempt: number;
}

/** The outcome of one claimed attempt. */
export interface AttemptRecord extends DeliveryAttempt {
  readonly owner: string;
  /** Ends the delivery as `delivered` (true) or, when `nextAttemptMs` is null, as `failed`. */
  readonly delivered: boolean;
  /** Epoch ms of the next attempt; null ends the delivery. */
  readonly nextAttemptMs: number | null;
}

/** A delivery enqueued by other code than the evaluation trigger (the hook point for batch webhooks). */
export interface NewDelivery {
  readonly id: string;
  readonly subjectKind: WebhookSubjectKind;
  readonly subjectId: string;
  readonly url: string;
  readonly createdAt: string;
}

export interface WebhookStore {
  /**
   * Records where an evaluation's terminal status goes. Called before the evaluation is created, so no
   * terminal transition can commit without it; a target whose evaluation never gets created is never used.
   */
  registerEvaluationWebhook(evaluationId: string, url: string, createdAt: string): Promise<void>;
  /** Enqueues a delivery due at once; false (nothing changed) when one with that id exists. */
  enqueueDelivery(delivery: NewDelivery): Promise<boolean>;
  /**
   * Claims up to `max` pending deliveries due at `nowMs`, earliest due first, for `owner` until
   * `nowMs + leaseMs`. Two replicas claiming at once never get the same delivery (SKIP LOCKED on PostgreSQL).
   */
  claimDueDeliveries(request: DeliveryClaimRequest): Promise<ClaimedDelivery[]>;
  /**
   * Stores an attempt's outcome and the delivery's next state, if `owner` still holds the claim for that
   * attempt (compare-and-set); false, and nothing written, when it does not (its claim ran out and another
   * replica took the delivery).
   */
  recordAttempt(record: AttemptRecord): Promise<boolean>;
  /** Gives a claim back unattempted (a clean stop): the delivery is due at `nowMs`, for anyone. */
  releaseDelivery(deliveryId: string, owner: string, nowMs: number): Promise<void>;
  /** When the earliest pending delivery is due (epoch ms), or null when none is pending. */
  nextDueMs(): Promise<number | null>;
  /** The deliveries about one subject, oldest first. */
  deliveriesOf(subjectKind: WebhookSubjectKind, subjectId: string): Promise<WebhookDelivery[]>;
  /** One delivery's attempts, oldest first. */
  attemptsOf(deliveryId: string): Promise<DeliveryAttempt[]>;
}
