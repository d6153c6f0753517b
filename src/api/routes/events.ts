import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EvaluationService } from '../../service/index.js';
import { ErrorSchema } from '../schemas.js';
import { SSE, streamFrames, type StreamLimiter } from '../streaming.js';

export interface EventRoutesOptions {
  readonly service: EvaluationService;
  readonly streams: StreamLimiter;
}

export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, { service, streams }) => {
  app.get(
    '/v1/events',
    {
      schema: {
        summary:
          'Server-Sent Events of every status transition; resumes after Last-Event-ID (or ?after=) without gaps',
        headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/).optional() }),
        querystring: z.strictObject({ after: z.coerce.number().int().min(0).optional() }),
        response: { 400: ErrorSchema, 401: ErrorSchema, 429: ErrorSchema },
      },
    },
    async (request, reply) => {
      const after = Number(request.headers['last-event-id'] ?? request.query.after ?? 0);
      await streamFrames(
        request,
        reply,
        streams,
        async function* (signal) {
          yield 'retry: 1000\n\n';
          for await (const t of service.followTransitions(after, signal, request.caller)) {
            const data = JSON.stringify({
              seq: t.seq,
              evaluationId: t.evaluationId,
              from: t.from,
              to: t.to,
              at: t.at,
              reason: t.reason,
            });
            yield `id: ${t.seq}\nevent: transition\ndata: ${data}\n\n`;
          }
        },
        SSE,
      );
    },
  );
};
