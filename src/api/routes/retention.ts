import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CrucibleError } from '../../core/index.js';
import type { EvaluationService } from '../../service/index.js';
import { parseDuration } from '../../service/retention.js';
import { ErrorSchema } from '../schemas.js';

export interface RetentionRoutesOptions {
  readonly service: EvaluationService;
}

const PruneBodySchema = z
  .strictObject({
    /** `30d`, `12h`…; default: the server's `--retention`. */
    olderThan: z
      .string({ error: 'olderThan must be a duration such as 30d, 12h or 90m' })
      .refine((text) => parseDuration(text) !== null, {
        error: 'olderThan must be a duration such as 30d, 12h or 90m',
      })
      .optional(),
    dryRun: z.boolean({ error: 'dryRun must be true or false' }).optional(),
  })
  .prefault({});

const PruneReportSchema = z.object({
  /** The default's cutoff; null when only `--retention-for` rules apply (evaluations matched by none are kept). */
  cutoff: z.string().nullable(),
  /** Each rule with an age: its cutoff and how many of its evaluations were (or would be) deleted. */
  rules: z.array(z.object({ rule: z.string(), cutoff: z.string(), evaluations: z.number() })).readonly(),
  dryRun: z.boolean(),
  evaluations: z.number(),
  objects: z.number(),
  durationMs: z.number(),
  storeBytesBefore: z.number(),
  storeBytesAfter: z.number(),
});

/** `POST /v1/prune` (admins): one prune now (docs/retention.md); `crucible prune` calls it. */
export const retentionRoutes: FastifyPluginAsyncZod<RetentionRoutesOptions> = async (app, { service }) => {
  app.post(
    '/v1/prune',
    {
      schema: {
        summary:
          'Delete terminal evaluations older than olderThan (default: --retention; --retention-for rules still apply) with their logs and artifacts; dryRun counts only',
        body: PruneBodySchema,
        response: { 200: PruneReportSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema },
      },
    },
    async (request) => {
      const retention = service.retention;
      if (!retention) throw new CrucibleError('invalid_request', 'this store cannot prune', null);
      const olderThanMs =
        request.body.olderThan === undefined ? retention.retentionMs : parseDuration(request.body.olderThan)!;
      if (olderThanMs === undefined && retention.rules.length === 0) {
        throw new CrucibleError(
          'invalid_request',
          'olderThan is required: the server has no --retention (or --retention-for) to default to',
          'olderThan',
        );
      }
      return retention.prune({
        ...(olderThanMs === undefined ? {} : { olderThanMs }),
        dryRun: request.body.dryRun === true,
      });
    },
  );
};
