import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { CrucibleError, SerialRerun, webhookRetryDelayMs, type RetrySchedule } from '../core/index.js';
import type {
  AttemptRecord,
  ClaimedDelivery,
  DeliveryAttempt,
  WebhookDelivery,
  WebhookStore,
  WebhookSubjectKind,
} from '../store/store.js';
import { send, type SendResult } from './send.js';
import { standardSigner, type Sign } from './signer.js';
import { checkTarget, TargetRefused, type LookupAll } from './target-guard.js';

/** The trace context header, when the subject has a trace: receivers join the evaluation's trace. */
function traceHeader(traceparent: string | undefined): Record<string, string> {
  return traceparent ? { traceparent } : {};
}

export interface WebhookDeliveriesOptions {
  readonly store: WebhookStore;
  /** This replica: the owner of the deliveries it claims. */
  readonly owner: string;
  /** Base64, optionally `whsec_`-prefixed (`--webhook-secret`). */
  readonly secret: string;
  /** `--webhook-allow-private`: receivers on loopback and internal networks are allowed. */
  readonly allowPrivate: boolean;
  /** The body for a subject (the evaluation's JSON, as `GET /v1/evaluations/{id}` answers), null when gone. */
  readonly payloadOf: (kind: WebhookSubjectKind, id: string) => Promise<string | null>;
  readonly log: { warn(message: string): void };
  /** Default: `webhookRetryDelayMs` (docs/webhooks.md). */
  readonly schedule?: RetrySchedule;
  /** The clock of due times and claims (epoch ms). Signatures always carry the real time. */
  readonly now?: () => number;
  readonly lookup?: LookupAll;
  readonly sign?: Sign;
  /** How long a claim lasts: longer than an attempt can take. Default 60 s. */
  readonly leaseMs?: number;
  /** Attempts in flight at once on this replica. Default 16. */
  readonly maxInFlight?: number;
  /** Default 10 s (the contract). */
  readonly timeoutMs?: number;
  /** Default 64 KiB. */
  readonly maxResponseBytes?: number;
  /** The longest wait between two looks at the outbox (catches retries another replica scheduled). 30 s. */
  readonly pollMs?: number;
  /** Called after each attempt's outcome is stored (tests, metrics). */
  readonly onAttempt?: (record: AttemptRecord) => void;
  /** The W3C `traceparent` of a subject's trace, sent with each attempt (docs/observability.md). */
  readonly traceparentOf?: (kind: WebhookSubjectKind, id: string) => string | undefined;
}

/** One evaluation's delivery and its attempts (`GET /v1/evaluations/{id}/deliveries`). */
export interface DeliveryLog {
  readonly delivery: WebhookDelivery;
  readonly attempts: readonly DeliveryAttempt[];
}

interface InFlight {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

type Outcome = SendResult & { readonly final?: boolean };

const USER_AGENT = 'Crucible-Webhooks/1';
const STORE_RETRY_MS = [100, 500, 2_000];

/**
 * The webhook sender: checks targets at submission, and delivers the store's outbox. Every replica runs one;
 * the store's claims make sure only one of them makes a given attempt. Woken by terminal transitions (the
 * service calls `wake`), by its own attempts ending, and by a timer set to the next due time (at most
 * `pollMs` away). Delivery is at least once: an attempt whose outcome could not be stored (a crash, a lost
 * claim, a stop mid-request) is made again, with the same `webhook-id`, for receivers to deduplicate.
 */
export class WebhookDeliveries {
  readonly #options: WebhookDeliveriesOptions;
  readonly #store: WebhookStore;
  readonly #schedule: RetrySchedule;
  readonly #now: () => number;
  readonly #sign: Sign;
  readonly #leaseMs: number;
  readonly #maxInFlight: number;
  readonly #pollMs: number;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #passes: SerialRerun;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopping = false;

  constructor(options: WebhookDeliveriesOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#schedule = options.schedule ?? ((failed) => webhookRetryDelayMs(failed));
    this.#now = options.now ?? Date.now;
    this.#sign = options.sign ?? standardSigner(options.secret);
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#maxInFlight = options.maxInFlight ?? 16;
    this.#pollMs = options.pollMs ?? 30_000;
    this.#passes = new SerialRerun(
      () => this.#pass(),
      (error) => options.log.warn(`webhook deliveries: ${messageOf(error)}`),
    );
  }

  /**
   * Refuses a target at submission: not http(s), not resolvable, or (without `allowPrivate`) resolving to a
   * loopback, private, link-local, CGNAT or metadata address.
   *
   * @throws CrucibleError `invalid_request` naming `webhook.url`
   */
  async check(url: string): Promise<void> {
    try {
      await checkTarget(url, this.#policy());
    } catch (error) {
      if (!(error instanceof TargetRefused)) throw error;
      throw new CrucibleError('invalid_request', `webhook.url ${error.message}`, 'webhook.url');
    }
  }

  /** Records an evaluation's target; the service calls it before it creates the evaluation. */
  register(evaluationId: string, url: string, at: Date): Promise<void> {
    return this.#store.registerEvaluationWebhook(evaluationId, url, at.toISOString());
  }

  /** The evaluation's delivery with its attempts, or null when none was enqueued (yet, or ever). */
  async deliveryLog(
    subjectId: string,
    subjectKind: WebhookSubjectKind = 'evaluation',
  ): Promise<DeliveryLog | null> {
    const [delivery] = await this.#store.deliveriesOf(subjectKind, subjectId);
    if (!delivery) return null;
    return { delivery, attempts: await this.#store.attemptsOf(delivery.id) };
  }

  /** Starts delivering: what is due now (pending attempts from before a restart included) goes first. */
  start(): void {
    this.#started = true;
    this.wake();
  }

  /** Something may be due (a terminal transition, an attempt ended). */
  wake(): void {
    if (this.#started && !this.#stopping) this.#passes.request();
  }

  /** Stops: attempts in flight are cut and their claims given back unattempted, for the next start. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#passes.idle();
    for (const { controller } of this.#inFlight.values()) controller.abort();
    await Promise.all([...this.#inFlight.values()].map((attempt) => attempt.done));
  }

  async #pass(): Promise<void> {
    if (this.#stopping) return;
    clearTimeout(this.#timer);
    try {
      const room = this.#maxInFlight - this.#inFlight.size;
      if (room > 0) {
        const claimed = await this.#store.claimDueDeliveries({
          owner: this.#options.owner,
          max: room,
          nowMs: this.#now(),
          leaseMs: this.#leaseMs,
        });
        for (const claim of claimed) this.#launch(claim);
      }
      this.#arm(await this.#store.nextDueMs());
    } catch (error) {
      this.#options.log.warn(`webhook deliveries: reading the outbox failed, retrying: ${messageOf(error)}`);
      this.#armIn(1_000);
    }
  }

  /** A timer for the next due time; none while every slot is busy (an attempt's end wakes the loop). */
  #arm(nextDueMs: number | null): void {
    if (this.#inFlight.size >= this.#maxInFlight) return;
    const wait = nextDueMs === null ? this.#pollMs : nextDueMs - this.#now();
    // Due now but not claimed: another replica's claim on it has not run out yet; look again shortly.
    this.#armIn(Math.min(this.#pollMs, Math.max(wait, 50)));
  }

  #armIn(ms: number): void {
    if (this.#stopping) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), ms);
    this.#timer.unref();
  }

  #launch(claim: ClaimedDelivery): void {
    const controller = new AbortController();
    const done = this.#attempt(claim, controller.signal)
      .catch((error: unknown) =>
        this.#options.log.warn(`webhook ${claim.delivery.id} attempt ${claim.attempt}: ${messageOf(error)}`),
      )
      .finally(() => {
        this.#inFlight.delete(claim.delivery.id);
        this.wake();
      });
    this.#inFlight.set(claim.delivery.id, { controller, done });
  }

  async #attempt({ delivery, attempt }: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const at = new Date(this.#now()).toISOString();
    const started = performance.now();
    // Anything that goes wrong (the store failing to render the body, say) is a failed attempt, retried.
    const outcome = await this.#try(delivery, signal).catch((error: unknown): Outcome => ({
      ok: false,
      statusCode: null,
      error: messageOf(error),
    }));
    if (signal.aborted) {
      // Stopping: not counted as an attempt. The receiver may have got it; the retry has the same id.
      await this.#store.releaseDelivery(delivery.id, this.#options.owner, this.#now());
      return;
    }
    const delay = outcome.ok || outcome.final ? null : this.#schedule(attempt);
    const nextAttemptMs = delay === null ? null : this.#now() + delay;
    const record: AttemptRecord = {
      deliveryId: delivery.id,
      owner: this.#options.owner,
      attempt,
      at,
      statusCode: outcome.statusCode,
      error: outcome.ok ? null : outcome.error,
      durationMs: Math.round(performance.now() - started),
      nextAttemptAt: nextAttemptMs === null ? null : new Date(nextAttemptMs).toISOString(),
      nextAttemptMs,
      delivered: outcome.ok,
    };
    if (!(await this.#record(record))) return;
    if (!outcome.ok && nextAttemptMs === null) {
      this.#options.log.warn(`webhook ${delivery.id} given up after attempt ${attempt}: ${outcome.error}`);
    }
    this.#options.onAttempt?.(record);
  }

  /** The outcome, stored; false when it could not be (the claim lapses and the attempt is made again). */
  async #record(record: AttemptRecord): Promise<boolean> {
    for (let retry = 0; ; retry++) {
      try {
        if (await this.#store.recordAttempt(record)) return true;
        this.#options.log.warn(
          `webhook ${record.deliveryId}: its claim ran out during attempt ${record.attempt}`,
        );
        return false;
      } catch (error) {
        const wait = STORE_RETRY_MS[retry];
        if (wait === undefined || this.#stopping) {
          this.#options.log.warn(
            `webhook ${record.deliveryId}: storing attempt ${record.attempt} failed: ${messageOf(error)}`,
          );
          return false;
        }
        await sleep(wait);
      }
    }
  }

  async #try(delivery: WebhookDelivery, signal: AbortSignal): Promise<Outcome> {
    const body = await this.#options.payloadOf(delivery.subjectKind, delivery.subjectId);
    if (body === null) {
      return {
        ok: false,
        statusCode: null,
        error: `${delivery.subjectKind} ${delivery.subjectId} no longer exists`,
        final: true,
      };
    }
    let target;
    try {
      // Again at each attempt: the name may resolve elsewhere now than at submission (DNS rebinding).
      target = await checkTarget(delivery.url, this.#policy());
    } catch (error) {
      if (!(error instanceof TargetRefused)) throw error;
      return { ok: false, statusCode: null, error: `refused: ${error.message}` };
    }
    // The real time, whatever clock schedules: receivers check it against theirs (replay protection).
    const timestamp = new Date();
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': delivery.id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': await this.#sign(delivery.id, timestamp, body),
      ...traceHeader(this.#options.traceparentOf?.(delivery.subjectKind, delivery.subjectId)),
    };
    return send({
      target,
      body,
      headers,
      timeoutMs: this.#options.timeoutMs ?? 10_000,
      maxResponseBytes: this.#options.maxResponseBytes ?? 64 * 1024,
      signal,
    });
  }

  #policy() {
    return {
      allowPrivate: this.#options.allowPrivate,
      ...(this.#options.lookup ? { lookup: this.#options.lookup } : {}),
    };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
