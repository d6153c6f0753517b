import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EvaluationService } from '../../service/index.js';
import { ErrorSchema, IdParamsSchema } from '../schemas.js';

const quota = (name: string) =>
  z
    .number({ error: `${name} must be a whole number` })
    .int({ error: `${name} must be a whole number` })
    .min(0, { error: `${name} must be at least 0` })
    .max(1_000_000_000, { error: `${name} must be at most 1000000000` })
    .nullable()
    .optional();

export const NewTokenSchema = z.strictObject({
  user: z.string({ error: 'user must be a string' }).regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, {
    error: 'user must be 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit',
  }),
  admin: z.boolean({ error: 'admin must be true or false' }).optional(),
  maxRunning: quota('maxRunning'),
  maxQueued: quota('maxQueued'),
  ratePerMinute: quota('ratePerMinute'),
});

export const TokenSchema = z.object({
  id: z.string(),
  user: z.string(),
  admin: z.boolean(),
  /** Quotas; null: none. */
  maxRunning: z.number().nullable(),
  maxQueued: z.number().nullable(),
  ratePerMinute: z.number().nullable(),
  createdAt: z.string(),
});

export const CreatedTokenSchema = TokenSchema.extend({
  /** The secret: shown in this answer only (the server keeps its hash). */
  token: z.string(),
});

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };

export interface TokenRoutesOptions {
  readonly service: EvaluationService;
}

/** `POST/GET/DELETE /v1/tokens` (admins only: see `ROUTE_ACCESS`, and the service checks again). */
export const tokenRoutes: FastifyPluginAsyncZod<TokenRoutesOptions> = async (app, { service }) => {
  app.post(
    '/v1/tokens',
    {
      schema: {
        summary: 'Create a token for a user (admins); its secret is in this answer only',
        body: NewTokenSchema,
        response: { 201: CreatedTokenSchema, ...errors },
      },
    },
    async (request, reply) => {
      const created = await service.tokens.create(request.body, request.caller);
      return reply.status(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get(
    '/v1/tokens',
    {
      schema: {
        summary: 'List tokens, oldest first, without their secrets (admins)',
        response: { 200: z.object({ items: z.array(TokenSchema) }), ...errors },
      },
    },
    async (request) => ({ items: await service.tokens.list(request.caller) }),
  );

  app.delete(
    '/v1/tokens/:id',
    {
      schema: {
        summary: 'Revoke a token (admins): it stops authenticating at once',
        params: IdParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      await service.tokens.revoke(request.params.id, request.caller);
      return reply.status(204).send(null);
    },
  );
};
