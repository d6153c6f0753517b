import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { STATUSES, type LimitBounds } from '../../core/index.js';
import type { EvaluationService } from '../../service/index.js';
import { MAX_BATCH_ITEMS, type BatchService } from '../../service/batches.js';
import {
  ErrorSchema,
  IdParamsSchema,
  IdempotencyHeadersSchema,
  MAX_LABELS,
  WaitQuerySchema,
  submissionSchema,
} from '../schemas.js';
import { clientGone } from '../held-answer.js';

export interface BatchRoutesOptions {
  readonly service: EvaluationService;
  readonly bounds: LimitBounds;
}

/**
 * A batch body may be this large (1,000 items of the largest code and stdin would be gigabytes: a batch is for
 * many small submissions). A single submission keeps its own, smaller limit.
 */
export const MAX_BATCH_BODY_BYTES = 64 * 1024 * 1024;

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };

/** The whole batch, each item a submission; `items.N.field` names the first bad one. */
export function batchSchema(bounds: LimitBounds) {
  const submission = submissionSchema(bounds);
  return z
    .strictObject({
      items: z
        // Files and tests run one evaluation in stages: submit those one at a time (docs/languages.md).
        .array(submission.omit({ files: true, tests: true, compare: true }), {
          error: 'items must be a list of submissions',
        })
        .min(1, { error: 'items must hold at least one submission' })
        .max(MAX_BATCH_ITEMS, { error: `items must hold at most ${MAX_BATCH_ITEMS} submissions` }),
      labels: submission.shape.labels,
      webhook: submission.shape.webhook,
    })
    .superRefine((batch, context) => {
      // The batch's labels go on every item: the merged set must fit the bound too.
      const batchKeys = Object.keys(batch.labels ?? {});
      batch.items.forEach((item, index) => {
        const merged = new Set([...batchKeys, ...Object.keys(item.labels ?? {})]);
        if (merged.size > MAX_LABELS) {
          context.addIssue({
            code: 'custom',
            path: ['items', index, 'labels'],
            message: `items.${index}.labels: at most ${MAX_LABELS} labels with the batch's labels (${merged.size})`,
          });
        }
      });
    });
}

export const BatchSchema = z.object({
  id: z.string(),
  total: z.number(),
  byStatus: z.object(
    Object.fromEntries(STATUSES.map((s) => [s, z.number()])) as Record<
      (typeof STATUSES)[number],
      z.ZodNumber
    >,
  ),
  /** Every item is terminal. */
  done: z.boolean(),
  createdAt: z.string(),
  labels: z.record(z.string(), z.string()),
});

export const SubmittedBatchSchema = z.object({ id: z.string(), evaluationIds: z.array(z.string()) });

/** `POST /v1/batches`, `GET /v1/batches/{id}[?wait=N]` (docs/batches.md). */
export const batchRoutes: FastifyPluginAsyncZod<BatchRoutesOptions> = async (app, options) => {
  const batches = (): BatchService => {
    if (options.service.batches) return options.service.batches;
    throw new Error('this store keeps no batches');
  };

  app.post(
    '/v1/batches',
    {
      bodyLimit: MAX_BATCH_BODY_BYTES,
      schema: {
        summary:
          'Submit up to 1,000 evaluations at once; the whole batch is checked first (one bad item answers 400 ' +
          'naming items.N.field, nothing stored) and stored in one transaction',
        body: batchSchema(options.bounds),
        headers: IdempotencyHeadersSchema,
        response: { 202: SubmittedBatchSchema, 409: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const submitted = await batches().submit(request.body, {
        ...(key === undefined ? {} : { idempotencyKey: key }),
        caller: request.caller,
      });
      if (submitted.replayed) void reply.header('idempotent-replayed', 'true');
      void reply.status(202).header('location', `/v1/batches/${submitted.id}`);
      return { id: submitted.id, evaluationIds: [...submitted.evaluationIds] };
    },
  );

  app.get(
    '/v1/batches/:id',
    {
      schema: {
        summary: 'A batch: counts by status and whether every item is done; ?wait=N holds until it is',
        params: IdParamsSchema,
        querystring: WaitQuerySchema,
        response: { 200: BatchSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const waitSeconds = request.query.wait ?? 0;
      if (waitSeconds <= 0) return batches().get(id, request.caller);
      const gone = clientGone(reply.raw);
      try {
        return await batches().wait(id, waitSeconds * 1000, gone.signal, request.caller);
      } finally {
        gone.dispose();
      }
    },
  );
};
