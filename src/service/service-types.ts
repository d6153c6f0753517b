import type { StorageGuard } from './storage-guard.js';
import type { ObjectRetryPolicy, ObjectStore } from '../objects/index.js';
import type { RetentionRule } from './retention-rules.js';
import type { Evaluation, Limits, Priority, Submission } from '../core/index.js';
import type { EventBus, StoreEventFeed } from '../events/index.js';
import type { Runtime } from '../runtime/runtime.js';
import type { EvaluationStore } from '../store/store.js';
import type { WebhookDeliveries } from '../webhooks/index.js';
import type { RetryPolicy } from './persist.js';
import type { Logger } from './transition-writer.js';

/* The service's options and answers, apart from the class (evaluation-service.ts) that uses them. */

export interface EvaluationServiceOptions {
  readonly store: EvaluationStore;
  readonly runtime: Runtime;
  readonly bus: EventBus;
  /**
   * Set when several replicas share the store: transitions are then published through it, in seq order with
   * every other replica's.
   */
  readonly feed?: StoreEventFeed;
  /** This replica's name: the owner of what it claims. Unique among replicas sharing a store. */
  readonly replicaId: string;
  /** Evaluations this replica runs at once (its slots). */
  readonly concurrency: number;
  /** Evaluations `starting`/`running` at once across every replica; default: no limit beyond the slots. */
  readonly globalConcurrency?: number;
  /** How long this replica's lease on its work lasts without renewal (default 15 s). */
  readonly leaseMs?: number;
  readonly agingMs: number;
  readonly defaultLimits: Limits;
  /** Artifacts and other large objects (docs/artifacts.md); absent: runs keep no `/artifacts` files. */
  readonly objects?: ObjectStore;
  /** How object writes (artifacts, long logs) are retried on transient errors (default: about 6 s). */
  readonly objectRetry?: ObjectRetryPolicy;
  /** `--retention`: the background prune's age (docs/retention.md); absent: prune only on demand. */
  readonly retentionMs?: number;
  /** `--retention-for`: per-label and per-user ages over `retentionMs` (docs/retention.md, "Rules"). */
  readonly retentionRules?: readonly RetentionRule[];
  /** Disk pressure: new work answers `storage_full` when the data disk is nearly full. */
  readonly storage?: StorageGuard;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** How run writes (transitions, logs) are retried while the store fails. */
  readonly storeRetry?: RetryPolicy;
  /** A follower this many events behind is dropped with `slow_consumer`. */
  readonly maxFollowerBacklog?: number;
  /** Shows submissions that ask for it as Kubernetes objects (the Evaluation CRD); absent: none can ask. */
  readonly mirror?: EvaluationMirror;
  /** Sends submissions' webhooks (`--webhook-secret`); absent: a submission with a webhook is refused. */
  readonly webhooks?: WebhookDeliveries;
  /** `CRUCIBLE_ADMIN_TOKEN`: a bootstrap admin token that is not stored (docs/auth.md). */
  readonly adminToken?: string;
}

/** Where a submission that asks to be mirrored is shown as an object (the `Evaluation` custom resource). */
export interface EvaluationMirror {
  /** Whether objects in this namespace are reconciled (a mirror elsewhere would never get a status). */
  watches(namespace: string): boolean;
  /** Idempotent: a repeat for the same evaluation changes nothing. */
  mirror(evaluation: Evaluation, submission: Submission, namespace: string): Promise<void>;
}

export interface EvaluationWithOutput {
  readonly evaluation: Evaluation;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Submitted {
  readonly evaluation: Evaluation;
  /** True when an earlier submission with the same idempotency key was returned; nothing new was stored. */
  readonly replayed: boolean;
}

export interface QueueStats {
  /** Every `queued` evaluation by priority, those awaiting admission included. */
  readonly queued: Record<Priority, number>;
  /** `starting` + `running` across every replica. */
  readonly running: number;
  /**
   * `queued` evaluations whose Job exists, suspended, waiting for Kueue's admission (also in `queued`). Each
   * holds a slot: `running + awaitingAdmission` is what `capacity` bounds.
   */
  readonly awaitingAdmission: number;
  /** The global limit, or this replica's slots when there is none. */
  readonly capacity: number;
  readonly replica: ReplicaStats;
}

export interface ReplicaStats {
  readonly id: string;
  /** Slots held here (a cancelled run keeps its slot until its sandbox is gone). */
  readonly running: number;
  readonly slots: number;
  /** False on a replica that only serves the API (not the leader). */
  readonly working: boolean;
}
