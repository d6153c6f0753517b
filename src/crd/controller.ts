import { submissionSchema } from '../api/schemas.js';
import {
  CrucibleError,
  DEFAULT_BOUNDS,
  isTerminal,
  type LimitBounds,
  type Status,
  type Submission,
} from '../core/index.js';
import { jitteredBackoff, pause } from '../runtime/kubernetes/backoff.js';
import { KubeError, toKubeError } from '../runtime/kubernetes/kube-client.js';
import { Reflector, type ReflectorTuning } from '../runtime/kubernetes/reflector.js';
import type { EvaluationService, Logger } from '../service/index.js';
import type { EvaluationApi, EvaluationObject } from './client.js';
import { MIRRORED_ANNOTATION } from './definition.js';
import { refusedStatus, statusFor, type EvaluationObjectStatus } from './status.js';

/** Deleting an Evaluation waits for the controller to cancel its run, even if it was down at the time. */
export const CANCEL_FINALIZER = 'crucible.dev/cancel-on-delete';

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed', 'TimedOut', 'Cancelled', 'Error']);

/** Status writes that lose the resourceVersion race this often in a row are left to the next event. */
const CONFLICT_ATTEMPTS = 20;

/** What the controller uses of the service: the same calls the HTTP API makes. */
export type ControllerService = Pick<
  EvaluationService,
  'submit' | 'get' | 'withOutput' | 'cancel' | 'followTransitions' | 'latestTransitionSeq'
>;

export interface EvaluationControllerOptions {
  readonly service: ControllerService;
  readonly api: EvaluationApi;
  /** Namespaces whose Evaluations are reconciled; null: every namespace (cluster-wide list and watch). */
  readonly namespaces: readonly string[] | null;
  readonly bounds?: LimitBounds;
  readonly log: Logger;
  readonly tuning?: Partial<ReflectorTuning>;
  /** Status writes that fail for another reason than a conflict are retried this often (default 8). */
  readonly writeAttempts?: number;
}

interface Tracked {
  readonly key: string;
  readonly uid: string;
  /** The status last written (or read back): a transition that does not change it writes nothing. */
  written: Status | null;
}

const DEFAULT_TUNING: ReflectorTuning = {
  watchTimeoutSecondsMin: 300,
  watchTimeoutSecondsMax: 600,
  watchIdleTimeoutMs: 90_000,
  backoffInitialMs: 800,
  backoffMaxMs: 30_000,
  backoffResetMs: 120_000,
};

const keyOf = (o: EvaluationObject): string => `${o.metadata.namespace}/${o.metadata.name}`;

/**
 * Reconciles `Evaluation` objects into the same pipeline as HTTP submissions (leader only).
 *
 * - A reflector per namespace (list, then watch from its resourceVersion; 410 relists) feeds every object
 *   to `reconcile`, one at a time per object (a per-key chain; the latest version wins).
 * - An object without `status.evaluationId` is submitted with `idempotencyKey = metadata.uid`, so a
 *   controller that restarts before writing the status gets the same evaluation back, never a second one.
 * - One `followTransitions` loop turns each transition of a tracked evaluation into a status write of the
 *   evaluation as it is now (`service.get`), so replayed or coalesced transitions write the same thing.
 * - Status goes through the status subresource with the object's resourceVersion; a 409 re-reads the
 *   object and retries.
 * - Deleting the object cancels the evaluation: the finalizer holds the object until the cancel is done.
 */
export class EvaluationController {
  readonly #service: ControllerService;
  readonly #api: EvaluationApi;
  readonly #log: Logger;
  readonly #schema: ReturnType<typeof submissionSchema>;
  readonly #writeAttempts: number;
  readonly #reflectors: Reflector<EvaluationObject>[];
  /** evaluation id → object. */
  readonly #tracked = new Map<string, Tracked>();
  /** object key → latest version seen, and the chain of its reconciles. */
  readonly #latest = new Map<string, EvaluationObject>();
  readonly #chains = new Map<string, Promise<void>>();
  #abort: AbortController | null = null;
  #following: Promise<void> | null = null;

  constructor(options: EvaluationControllerOptions) {
    this.#service = options.service;
    this.#api = options.api;
    this.#log = options.log;
    this.#schema = submissionSchema(options.bounds ?? DEFAULT_BOUNDS);
    this.#writeAttempts = options.writeAttempts ?? 8;
    const tuning = { ...DEFAULT_TUNING, ...options.tuning };
    const handler = {
      upsert: (o: EvaluationObject) => this.#enqueue(o, false),
      remove: (o: EvaluationObject) => this.#enqueue(o, true),
    };
    const warn = (message: string) => this.#log.warn(message);
    this.#reflectors = (options.namespaces ?? [null]).map(
      (namespace) =>
        new Reflector<EvaluationObject>(
          `Evaluations in ${namespace ?? 'every namespace'}`,
          {
            list: (query, signal) => this.#api.list(namespace, query, signal),
            watch: (query, signal) => this.#api.watch(namespace, query, signal),
          },
          '',
          handler,
          tuning,
          warn,
        ),
    );
  }

  /** Resolves once every namespace was listed once (objects found are being reconciled). */
  async start(): Promise<void> {
    if (this.#abort) return;
    const abort = (this.#abort = new AbortController());
    // Taken before anything is read from the cluster: every later transition has a larger seq.
    const from = await this.#recentSeq();
    this.#following = this.#follow(from, abort.signal);
    await Promise.all(this.#reflectors.map((r) => r.start()));
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await Promise.all(this.#reflectors.map((r) => r.stop()));
    await this.#following;
    await Promise.all([...this.#chains.values()]);
    this.#abort = null;
  }

  #enqueue(object: EvaluationObject, deleted: boolean): void {
    const key = keyOf(object);
    // A reconcile still queued for a deleted object must find nothing to submit.
    if (deleted) this.#latest.delete(key);
    else this.#latest.set(key, object);
    this.#chain(key, () => (deleted ? this.#deleted(object) : this.#reconcile(key)));
  }

  #chain(key: string, task: () => Promise<void>): void {
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(task)
      .catch((error: unknown) => this.#log.warn(`reconciling Evaluation ${key}: ${String(error)}`))
      .finally(() => {
        if (this.#chains.get(key) === next) this.#chains.delete(key);
      });
    this.#chains.set(key, next);
  }

  async #reconcile(key: string): Promise<void> {
    const object = this.#latest.get(key);
    if (!object || this.#abort?.signal.aborted) return;
    if (object.metadata.deletionTimestamp) return this.#finalize(object);
    const id = object.status?.evaluationId;
    if (id) {
      const phase = object.status?.phase ?? 'Queued';
      if (this.#tracked.has(id) || TERMINAL_PHASES.has(phase)) return;
      // After a restart (or a relist) the object may be behind the evaluation: catch it up once.
      this.#tracked.set(id, { key, uid: object.metadata.uid, written: null });
      return this.#sync(id);
    }
    if (object.status?.phase === 'Error') return; // refused before submission; the spec cannot change
    const mirrored = (object.metadata['annotations'] as Record<string, string> | undefined)?.[
      MIRRORED_ANNOTATION
    ];
    if (mirrored) return this.#adoptMirrored(key, object, mirrored);
    await this.#submit(key, object);
  }

  /** An object that mirrors an HTTP submission: its evaluation exists already, so it is followed, not run. */
  async #adoptMirrored(key: string, object: EvaluationObject, id: string): Promise<void> {
    try {
      await this.#service.get(id);
    } catch (error) {
      if (!(error instanceof CrucibleError)) throw error;
      await this.#writeStatus(key, object.metadata.uid, () =>
        refusedStatus(object.metadata.generation, `it mirrors evaluation ${id}, which does not exist`),
      );
      return;
    }
    this.#tracked.set(id, { key, uid: object.metadata.uid, written: null });
    await this.#ensureFinalizer(key, object.metadata.uid);
    await this.#sync(id);
  }

  async #submit(key: string, object: EvaluationObject): Promise<void> {
    const parsed = this.#schema.safeParse(object.spec);
    if (!parsed.success) {
      const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
      await this.#writeStatus(key, object.metadata.uid, () =>
        refusedStatus(object.metadata.generation, message),
      );
      return;
    }
    let id: string;
    try {
      const submitted = await this.#service.submit(parsed.data as Submission, {
        idempotencyKey: object.metadata.uid,
        caller: 'crd',
      });
      id = submitted.evaluation.id;
    } catch (error) {
      if (!(error instanceof CrucibleError)) throw error;
      await this.#writeStatus(key, object.metadata.uid, () =>
        refusedStatus(object.metadata.generation, error.message),
      );
      return;
    }
    this.#tracked.set(id, { key, uid: object.metadata.uid, written: null });
    await this.#ensureFinalizer(key, object.metadata.uid);
    await this.#sync(id);
  }

  /**
   * Writes the evaluation's current state into its object's status, unless that status is already there. A
   * write that fails is tried again later (no later transition may come to do it); an object that is gone
   * (deleted while we submitted, or before the finalizer was on) has its evaluation cancelled.
   */
  async #sync(id: string, attempt = 0): Promise<void> {
    const tracked = this.#tracked.get(id);
    if (!tracked) return;
    try {
      const evaluation = await this.#service.get(id);
      if (tracked.written === evaluation.status) return;
      const terminal = isTerminal(evaluation.status);
      const output = terminal ? await this.#service.withOutput(evaluation) : null;
      const written = await this.#writeStatus(tracked.key, tracked.uid, (current) =>
        statusFor(evaluation, current.metadata.generation, output),
      );
      tracked.written = evaluation.status;
      if (terminal || !written) this.#tracked.delete(id);
      if (!written && !terminal && !this.#abort?.signal.aborted) await this.#service.cancel(id);
    } catch (error) {
      const signal = this.#abort?.signal;
      if (!signal || signal.aborted) return;
      const delay = jitteredBackoff(attempt, 500, 30_000);
      this.#log.warn(
        `status of Evaluation ${tracked.key}: ${String(error)}; retrying in ${Math.round(delay)} ms`,
      );
      void pause(delay, signal).then(() => {
        if (!signal.aborted) this.#chain(tracked.key, () => this.#sync(id, attempt + 1));
      });
    }
  }

  /**
   * The newest seq, so following starts at now instead of replaying the store's whole history; what
   * happened earlier is caught up by the first reconcile of each object, which reads the evaluation as it is.
   */
  async #recentSeq(): Promise<number> {
    try {
      return await this.#service.latestTransitionSeq();
    } catch (error) {
      this.#log.warn(`reading the newest transition failed; following from the start: ${String(error)}`);
      return 0;
    }
  }

  /** The one transition loop: each transition of a tracked evaluation queues a sync of its object. */
  async #follow(from: number, signal: AbortSignal): Promise<void> {
    let after = from;
    let failures = 0;
    while (!signal.aborted) {
      try {
        for await (const transition of this.#service.followTransitions(after, signal)) {
          after = transition.seq;
          failures = 0;
          const tracked = this.#tracked.get(transition.evaluationId);
          if (tracked) this.#chain(tracked.key, () => this.#sync(transition.evaluationId));
        }
      } catch (error) {
        if (signal.aborted) break;
        this.#log.warn(`following transitions for Evaluation objects: ${String(error)}; resuming`);
        await pause(jitteredBackoff(failures++, 100, 5000), signal);
      }
    }
  }

  /**
   * PUT …/status with the resourceVersion last seen; a 409 means someone wrote in between: read the object
   * again and recompute. Returns false when the object is gone (or is another object with the same name).
   */
  async #writeStatus(
    key: string,
    uid: string,
    compute: (current: EvaluationObject) => EvaluationObjectStatus,
  ): Promise<boolean> {
    let current = this.#latest.get(key);
    for (let attempt = 0; ; attempt += 1) {
      try {
        if (!current) current = await this.#read(key);
        if (!current || current.metadata.uid !== uid) return false;
        const updated = await this.#api.replaceStatus({ ...current, status: compute(current) });
        this.#remember(updated);
        return true;
      } catch (caught) {
        const error = toKubeError(caught);
        if (error.code === 404 || this.#abort?.signal.aborted !== false) return false;
        // Conflicts are cheap and resolve themselves; give up only after many (the next event retries).
        const limit = error.code === 409 ? CONFLICT_ATTEMPTS : this.#writeAttempts;
        if (attempt + 1 >= limit) throw error;
        if (error.code !== 409) await pause(jitteredBackoff(attempt, 100, 5000), this.#abort?.signal);
        current = undefined;
      }
    }
  }

  async #ensureFinalizer(key: string, uid: string): Promise<void> {
    for (let attempt = 0; attempt < this.#writeAttempts; attempt += 1) {
      const current = attempt === 0 ? this.#latest.get(key) : await this.#read(key);
      if (!current || current.metadata.uid !== uid || current.metadata.deletionTimestamp) return;
      const finalizers = current.metadata.finalizers ?? [];
      if (finalizers.includes(CANCEL_FINALIZER)) return;
      try {
        const { status: _ignored, ...object } = current;
        const metadata = { ...current.metadata, finalizers: [...finalizers, CANCEL_FINALIZER] };
        this.#remember(await this.#api.replace({ ...object, metadata }));
        return;
      } catch (caught) {
        const error = toKubeError(caught);
        if (error.code === 404) return;
        if (error.code !== 409) throw error;
      }
    }
  }

  /** The object is being deleted: cancel its evaluation, then let it go. */
  async #finalize(object: EvaluationObject): Promise<void> {
    await this.#cancel(object);
    let current: EvaluationObject | undefined = object;
    for (let attempt = 0; current && attempt < this.#writeAttempts; attempt += 1) {
      const finalizers = current.metadata.finalizers ?? [];
      if (!finalizers.includes(CANCEL_FINALIZER)) return;
      try {
        const { status: _ignored, ...rest } = current;
        const metadata = {
          ...current.metadata,
          finalizers: finalizers.filter((f) => f !== CANCEL_FINALIZER),
        };
        await this.#api.replace({ ...rest, metadata });
        return;
      } catch (caught) {
        const error = toKubeError(caught);
        if (error.code === 404) return;
        if (error.code !== 409) throw error;
        current = await this.#read(keyOf(object));
      }
    }
  }

  async #deleted(object: EvaluationObject): Promise<void> {
    this.#latest.delete(keyOf(object));
    await this.#cancel(object);
  }

  async #cancel(object: EvaluationObject): Promise<void> {
    const id =
      object.status?.evaluationId ??
      [...this.#tracked.entries()].find(([, t]) => t.uid === object.metadata.uid)?.[0];
    if (!id) return;
    this.#tracked.delete(id);
    try {
      const cancelled = await this.#service.cancel(id);
      this.#log.info(`Evaluation ${keyOf(object)} deleted: evaluation ${id} is ${cancelled.status}`);
    } catch (error) {
      if (!(error instanceof CrucibleError && error.code === 'not_found')) throw error;
    }
  }

  async #read(key: string): Promise<EvaluationObject | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    try {
      const object = await this.#api.get(namespace, name);
      this.#remember(object);
      return object;
    } catch (caught) {
      const error = toKubeError(caught);
      if (error.code === 404) return undefined;
      throw error;
    }
  }

  /** Keeps the newest version we know of, so the next write starts from the right resourceVersion. */
  #remember(object: EvaluationObject): void {
    const key = keyOf(object);
    const known = this.#latest.get(key);
    if (
      !known ||
      known.metadata.uid !== object.metadata.uid ||
      known.metadata.resourceVersion !== object.metadata.resourceVersion
    )
      this.#latest.set(key, object);
  }
}

export { KubeError };
