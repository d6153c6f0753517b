import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CrucibleError,
  MAX_USAGE_RANGE_DAYS,
  TERMINAL_STATUSES,
  parseIsoInstant,
  parseUsageGroupBy,
} from '../../core/index.js';
import type { EvaluationService } from '../../service/index.js';
import { ErrorSchema } from '../schemas.js';

export interface UsageRoutesOptions {
  readonly service: EvaluationService;
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 429: ErrorSchema };

const instant = (name: 'from' | 'to') =>
  z
    .string()
    .transform((text, context) => {
      const date = parseIsoInstant(text);
      if (date) return date;
      context.addIssue({
        code: 'custom',
        message: `${name} must be an ISO 8601 time with a zone, like 2026-03-01T00:00:00Z, or a date like 2026-03-01`,
      });
      return z.NEVER;
    })
    .optional();

export const UsageQuerySchema = z.strictObject({
  /** Evaluations that finished at or after this instant; default a week before `to`. */
  from: instant('from'),
  /** …and before this one; default now. */
  to: instant('to'),
  groupBy: z
    .string()
    .transform((text, context) => {
      const groupBy = parseUsageGroupBy(text);
      if (groupBy) return groupBy;
      context.addIssue({ code: 'custom', message: 'groupBy must be "user" or "label:KEY" (a label key)' });
      return z.NEVER;
    })
    .default('user'),
});

const byStatus = Object.fromEntries(TERMINAL_STATUSES.map((status) => [status, z.number()])) as Record<
  (typeof TERMINAL_STATUSES)[number],
  z.ZodNumber
>;

export const UsageReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.string(),
  items: z.array(
    z.object({
      /** The user or the label's value; null: none (no user, or no such label). */
      key: z.string().nullable(),
      evaluations: z.number(),
      byStatus: z.object(byStatus),
      wallSeconds: z.number(),
      cpuSeconds: z.number(),
      /** Σ peak memory (MiB) × wall seconds (docs/usage.md). */
      memoryMbSeconds: z.number(),
    }),
  ),
});

/** `GET /v1/usage`: wall, CPU and memory × time of finished evaluations by user or label (docs/usage.md). */
export const usageRoutes: FastifyPluginAsyncZod<UsageRoutesOptions> = async (app, { service }) => {
  app.get(
    '/v1/usage',
    {
      schema: {
        summary: `Usage of evaluations finished in [from, to) (at most ${MAX_USAGE_RANGE_DAYS} days), by user or label; users see their own`,
        querystring: UsageQuerySchema,
        response: { 200: UsageReportSchema, ...errors },
      },
    },
    async (request) => {
      if (!service.usage) throw new CrucibleError('not_found', 'this store keeps no usage', null);
      const { from, to, groupBy } = request.query;
      return service.usage.report({ from, to, groupBy }, request.caller);
    },
  );
};
