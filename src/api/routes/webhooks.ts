import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CrucibleError } from '../../core/index.js';
import type { EvaluationService } from '../../service/index.js';
import type { DeliveryLog } from '../../webhooks/index.js';
import { ErrorSchema, IdParamsSchema } from '../schemas.js';
import { toView } from '../views.js';

export interface WebhookRoutesOptions {
  readonly service: EvaluationService;
}

const errors = { 400: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };

const AttemptSchema = z.object({
  attempt: z.number(),
  at: z.string(),
  /** The receiver's HTTP status; null when none came (refused, unreachable, no answer in time). */
  statusCode: z.number().nullable(),
  error: z.string().nullable(),
  durationMs: z.number(),
  /** When the next attempt is due; null when this one ended the delivery. */
  nextAttemptAt: z.string().nullable(),
});

export const DeliveriesSchema = z.object({
  /** Null until the evaluation is terminal (or when it has no webhook). */
  webhook: z
    .object({
      /** The `webhook-id` header, the same on every attempt. */
      id: z.string(),
      url: z.string(),
      state: z.enum(['pending', 'delivered', 'failed']),
      attempts: z.number(),
      nextAttemptAt: z.string().nullable(),
      createdAt: z.string(),
    })
    .nullable(),
  items: z.array(AttemptSchema),
});

/**
 * `GET /v1/evaluations/{id}/deliveries` and `GET /v1/batches/{id}/deliveries`: the webhook delivery log of one
 * evaluation, or of a batch's own webhook (sent when every item is done).
 */
export const webhookRoutes: FastifyPluginAsyncZod<WebhookRoutesOptions> = async (app, { service }) => {
  app.get(
    '/v1/evaluations/:id/deliveries',
    {
      schema: {
        summary: "An evaluation's webhook delivery and its attempts, oldest first",
        params: IdParamsSchema,
        response: { 200: DeliveriesSchema, ...errors },
      },
    },
    async (request) => deliveriesView(await service.deliveries(request.params.id, request.caller)),
  );

  app.get(
    '/v1/batches/:id/deliveries',
    {
      schema: {
        summary: "A batch's own webhook delivery (when every item is done) and its attempts, oldest first",
        params: IdParamsSchema,
        response: { 200: DeliveriesSchema, ...errors },
      },
    },
    async (request) => {
      if (!service.batches) throw new CrucibleError('not_found', 'this server has no batches', 'id');
      return deliveriesView(await service.batches.deliveries(request.params.id, request.caller));
    },
  );
};

function deliveriesView(log: DeliveryLog | null): z.infer<typeof DeliveriesSchema> {
  if (!log) return { webhook: null, items: [] };
  const { delivery } = log;
  return {
    webhook: {
      id: delivery.id,
      url: delivery.url,
      state: delivery.state,
      attempts: delivery.attempts,
      nextAttemptAt:
        delivery.state === 'pending' && delivery.dueMs !== null
          ? new Date(delivery.dueMs).toISOString()
          : null,
      createdAt: delivery.createdAt,
    },
    items: log.attempts.map(({ deliveryId: _id, ...attempt }) => attempt),
  };
}

/**
 * A webhook's body: the evaluation as `GET /v1/evaluations/{id}` answers it, output included; null when the
 * evaluation is gone. The composition root hands it to the sender.
 */
export async function evaluationWebhookBody(service: EvaluationService, id: string): Promise<string | null> {
  let evaluation;
  try {
    evaluation = await service.get(id);
  } catch (error) {
    // Gone is final; a store that fails is not (the attempt fails and is retried).
    if (error instanceof CrucibleError && error.code === 'not_found') return null;
    throw error;
  }
  const { stdout, stderr } = await service.withOutput(evaluation);
  return JSON.stringify(toView(evaluation, { stdout, stderr }));
}
