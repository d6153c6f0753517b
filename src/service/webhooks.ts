import { CrucibleError, isTerminal, type Evaluation, type Submission } from '../core/index.js';
import type { EventBus } from '../events/index.js';
import type { WebhookSubjectKind } from '../store/webhooks.js';
import type { DeliveryLog, WebhookDeliveries } from '../webhooks/index.js';

/**
 * The service's side of webhooks: what a submission's `webhook` needs before it is stored, and the sender
 * woken by every terminal transition this replica sees (its own and, on a shared store, everyone's).
 */
export class ServiceWebhooks {
  readonly #deliveries: WebhookDeliveries | undefined;
  readonly #bus: EventBus;
  #off: (() => void) | undefined;

  constructor(deliveries: WebhookDeliveries | undefined, bus: EventBus) {
    this.#deliveries = deliveries;
    this.#bus = bus;
  }

  /**
   * Refuses a webhook this server cannot send: none configured (no secret to sign with), or a target the
   * SSRF guard refuses.
   *
   * @throws CrucibleError `invalid_request` naming `webhook` or `webhook.url`
   */
  async check(submission: Submission): Promise<void> {
    if (!submission.webhook) return;
    if (!this.#deliveries) {
      throw new CrucibleError(
        'invalid_request',
        'webhook: this server sends no webhooks (it has no signing secret: start it with --webhook-secret ' +
          'or CRUCIBLE_WEBHOOK_SECRET)',
        'webhook',
      );
    }
    await this.#deliveries.check(submission.webhook.url);
  }

  /** Before the evaluation is created: its terminal transition then always finds the target. */
  async register(evaluation: Evaluation, submission: Submission): Promise<void> {
    if (!submission.webhook || !this.#deliveries) return;
    await this.#deliveries.register(evaluation.id, submission.webhook.url, new Date(evaluation.createdAt));
  }

  /** The delivery about one evaluation (or one batch) and its attempts; null when it has none. */
  log(subjectId: string, subjectKind: WebhookSubjectKind = 'evaluation'): Promise<DeliveryLog | null> {
    return this.#deliveries ? this.#deliveries.deliveryLog(subjectId, subjectKind) : Promise.resolve(null);
  }

  start(): void {
    const deliveries = this.#deliveries;
    if (!deliveries) return;
    this.#off = this.#bus.onTransition(({ transition }) => {
      if (isTerminal(transition.to)) deliveries.wake();
    });
    deliveries.start();
  }

  async stop(): Promise<void> {
    this.#off?.();
    await this.#deliveries?.stop();
  }
}
