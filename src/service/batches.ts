import type { StorageGuard } from './storage-guard.js';
import {
  CrucibleError,
  STATUSES,
  findLanguage,
  isTerminal,
  type Limits,
  type Status,
  type Submission,
} from '../core/index.js';
import type { EventBus } from '../events/index.js';
import {
  BatchIdempotencyKeyTaken,
  type BatchProgress,
  type BatchStore,
  type IdempotencyKey,
  type ListPage,
  type ListQuery,
  type NewBatchItem,
} from '../store/store.js';
import { SYSTEM_CALLER, canSee, type Caller } from './caller.js';
import { newEvaluation } from './evaluation-mapping.js';
import { assertSameSubmission, fingerprintOf } from './idempotency.js';
import type { ProjectRuns } from './project-runs.js';
import type { TransitionWriter } from './transition-writer.js';
import { watchTerminals } from './terminal-watch.js';
import type { DeliveryLog } from '../webhooks/index.js';
import type { ServiceWebhooks } from './webhooks.js';
import type { UserQuotas } from './quotas.js';

/** The most items one batch may hold (contract "Batches"). */
export const MAX_BATCH_ITEMS = 1000;

export interface BatchSubmission {
  readonly items: readonly Submission[];
  /** Merged into every item's labels; an item's own label wins over the batch's with the same key. */
  readonly labels?: Readonly<Record<string, string>>;
  /** POSTed the batch's progress, signed, once every item is done. */
  readonly webhook?: { readonly url: string };
}

export interface SubmittedBatch {
  readonly id: string;
  /** In item order. */
  readonly evaluationIds: readonly string[];
  /** True when an earlier batch with the same Idempotency-Key was answered; nothing new was stored. */
  readonly replayed: boolean;
}

/** `GET /v1/batches/{id}`. */
export interface BatchView {
  readonly id: string;
  readonly total: number;
  readonly byStatus: Readonly<Record<Status, number>>;
  /** Every item is terminal. */
  readonly done: boolean;
  readonly createdAt: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface BatchServiceOptions {
  readonly store: BatchStore;
  readonly bus: EventBus;
  readonly writer: TransitionWriter;
  readonly projectRuns: ProjectRuns;
  readonly webhooks: ServiceWebhooks;
  readonly defaults: Limits;
  readonly runtime: () => string;
  readonly now: () => Date;
  readonly newId: () => string;
  /** The claim loop: woken once per batch. */
  readonly wake: () => void;
  /** Per-user quotas, checked for the whole batch (every item counts; all or none). */
  readonly quotas?: UserQuotas;
  /** Refuses new work when the data disk is nearly full (`storage_full`). */
  readonly storage?: StorageGuard;
}

/**
 * Batches (docs/batches.md): a whole batch is checked first — one bad item refuses it, naming `items.N.field`
 * — then stored with every item in one store transaction, published, and the claim loop woken once.
 * Progress is read from the store; `wait` listens to the bus for its items' terminal transitions.
 */
export class BatchService {
  readonly #o: BatchServiceOptions;

  constructor(options: BatchServiceOptions) {
    this.#o = options;
  }

  async submit(
    body: BatchSubmission,
    options: { idempotencyKey?: string; caller?: Caller } = {},
  ): Promise<SubmittedBatch> {
    const caller = options.caller ?? SYSTEM_CALLER;
    const { store, writer } = this.#o;
    await this.#o.storage?.admit();
    if (body.items.length < 1 || body.items.length > MAX_BATCH_ITEMS) {
      throw new CrucibleError(
        'invalid_request',
        `items must hold 1 to ${MAX_BATCH_ITEMS} submissions`,
        'items',
      );
    }
    const key: IdempotencyKey | undefined =
      options.idempotencyKey === undefined
        ? undefined
        : {
            scope: caller.scope,
            key: options.idempotencyKey,
            // The digest of any JSON value: the whole batch body here.
            fingerprint: fingerprintOf(body as unknown as Submission),
          };
    const earlier = key ? await this.#replay(key, caller) : null;
    if (earlier) return earlier;
    if (body.webhook) await this.#o.webhooks.check({ language: '', code: '', webhook: body.webhook });
    const items = await this.#prepare(body, caller);
    const batchId = `batch_${this.#o.newId()}`;
    const batch = {
      id: batchId,
      total: items.length,
      labels: { ...body.labels },
      createdAt: items[0]!.evaluation.createdAt,
      webhookUrl: body.webhook?.url ?? null,
      user: caller.user,
    };
    const ids = items.map((item) => item.evaluation.id);
    try {
      await writer.serially(async () => {
        await this.#o.quotas?.admit(caller.user, caller.token, items.length);
        const transitions = await store.createBatch(batch, items, key);
        transitions.forEach((transition, i) =>
          writer.publish({ transition, evaluation: items[i]!.evaluation }),
        );
      }, ids);
    } catch (error) {
      // Another replica recorded the key between our look-up and our insert.
      const replayed =
        error instanceof BatchIdempotencyKeyTaken && key ? await this.#replay(key, caller) : null;
      if (replayed) return replayed;
      throw error;
    }
    this.#o.wake();
    return { id: batchId, evaluationIds: ids, replayed: false };
  }

  /** The batch's progress; another user's answers `not_found`, as a missing one does. */
  async get(id: string, caller: Caller = SYSTEM_CALLER): Promise<BatchView> {
    return viewOf(await this.#progress(id, caller));
  }

  /**
   * The batch once every item is terminal, or as it is after `timeoutMs` or when `signal` aborts. Woken by
   * its items' terminal transitions on the bus (this replica's and, on a shared store, everyone's): no polling.
   */
  async wait(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
    caller: Caller = SYSTEM_CALLER,
  ): Promise<BatchView> {
    // Items that end before the members are read are remembered, then the wait counts down the rest.
    const ended = new Set<string>();
    let pending: Set<string> | undefined;
    const watch = watchTerminals(this.#o.bus, timeoutMs, signal, (evaluationId) => {
      if (pending) return pending.delete(evaluationId) && pending.size === 0;
      ended.add(evaluationId);
      return false;
    });
    try {
      const first = await this.#progress(id, caller);
      if (isDone(first) || timeoutMs <= 0 || signal?.aborted) return viewOf(first);
      const members = await this.#o.store.membersOf(id);
      pending = new Set(members.filter((m) => !isTerminal(m.status) && !ended.has(m.id)).map((m) => m.id));
      if (pending.size > 0) await watch.over;
      return viewOf(await this.#progress(id, caller));
    } finally {
      watch.dispose();
    }
  }

  /** `GET /v1/evaluations?batch=ID`: the batch's evaluations, newest (last item) first. */
  async list(
    id: string,
    query: Pick<ListQuery, 'status' | 'limit' | 'cursor'>,
    caller: Caller = SYSTEM_CALLER,
  ): Promise<ListPage> {
    await this.#progress(id, caller);
    return this.#o.store.listBatch(id, query);
  }

  /** The batch webhook's delivery and its attempts (null: none yet, or the batch has no webhook). */
  async deliveries(id: string, caller: Caller = SYSTEM_CALLER): Promise<DeliveryLog | null> {
    await this.#progress(id, caller);
    return this.#o.webhooks.log(id, 'batch');
  }

  /** A batch webhook's body: the batch as `GET /v1/batches/{id}` answers it; null when it is gone. */
  async webhookBody(id: string): Promise<string | null> {
    const progress = await this.#o.store.batchProgress(id);
    return progress ? JSON.stringify(viewOf(progress)) : null;
  }

  async #progress(id: string, caller: Caller): Promise<BatchProgress> {
    const progress = await this.#o.store.batchProgress(id);
    if (!progress || !canSee(caller, progress.batch)) {
      throw new CrucibleError('not_found', `no batch with id "${id}"`, 'id');
    }
    return progress;
  }

  /** The first batch of this key, or null when there is none; a different body answers 409. */
  async #replay(key: IdempotencyKey, caller: Caller): Promise<SubmittedBatch | null> {
    const found = await this.#o.store.findIdempotentBatch(key.scope, key.key);
    if (!found) return null;
    assertSameSubmission({ evaluationId: found.batchId, fingerprint: found.fingerprint }, key);
    await this.#progress(found.batchId, caller);
    const members = await this.#o.store.membersOf(found.batchId);
    return { id: found.batchId, evaluationIds: members.map((m) => m.id), replayed: true };
  }

  /**
   * Every item checked as a single submission would be, each check once per distinct value (a project, a
   * webhook target), and made into a queued evaluation with the batch's labels under its own.
   *
   * @throws CrucibleError naming `items.N.<field>` for the first bad item
   */
  async #prepare(body: BatchSubmission, caller: Caller): Promise<NewBatchItem[]> {
    const { projectRuns, webhooks, defaults } = this.#o;
    const checks = new Map<string, Promise<void>>();
    const once = (what: string, check: () => Promise<void>) => {
      let done = checks.get(what);
      if (!done) checks.set(what, (done = check()));
      return done;
    };
    const now = this.#o.now();
    const runtime = this.#o.runtime();
    const prepared: NewBatchItem[] = [];
    for (const [index, item] of body.items.entries()) {
      const submission: Submission = { ...item, labels: { ...body.labels, ...item.labels } };
      try {
        const language = findLanguage(submission.language);
        if (!language) {
          throw new CrucibleError('unknown_language', `unknown language "${item.language}"`, 'language');
        }
        if (submission.project !== undefined) {
          const memory = submission.memoryMb ?? defaults.memoryMb;
          await once(`project ${submission.project} ${memory}`, () =>
            projectRuns.check(submission, defaults.memoryMb),
          );
        }
        const url = submission.webhook?.url;
        if (url !== undefined) await once(`webhook ${url}`, () => webhooks.check(submission));
        const evaluation = newEvaluation(submission, {
          id: this.#o.newId(),
          language: language.id,
          now,
          defaults,
          runtime,
          user: caller.user,
        });
        prepared.push(url === undefined ? { evaluation } : { evaluation, webhookUrl: url });
      } catch (error) {
        if (!(error instanceof CrucibleError)) throw error;
        const field = `items.${index}${error.field ? `.${error.field}` : ''}`;
        throw new CrucibleError(error.code, `${field}: ${error.message}`, field);
      }
    }
    return prepared;
  }
}

function isDone(progress: BatchProgress): boolean {
  return STATUSES.every((s) => isTerminal(s) || progress.byStatus[s] === 0);
}

function viewOf(progress: BatchProgress): BatchView {
  const { batch, byStatus } = progress;
  return {
    id: batch.id,
    total: batch.total,
    byStatus,
    done: isDone(progress),
    createdAt: batch.createdAt,
    labels: batch.labels,
  };
}
