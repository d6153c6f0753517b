import { isUtf8 } from 'node:buffer';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Evaluation, LimitBounds, LogChunk } from '../../core/index.js';
import type { EvaluationService } from '../../service/index.js';
import {
  ErrorSchema,
  EvaluationSchema,
  IdParamsSchema,
  IdempotencyHeadersSchema,
  ListItemSchema,
  ListQuerySchema,
  LogsQuerySchema,
  SubmitQuerySchema,
  TransitionSchema,
  WaitQuerySchema,
  submissionSchema,
} from '../schemas.js';
import { clientGone, heldJson } from '../held-answer.js';
import { NDJSON, SSE, streamFrames, type StreamLimiter } from '../streaming.js';
import { toListItem, toView, type EvaluationView } from '../views.js';

export interface EvaluationRoutesOptions {
  readonly service: EvaluationService;
  readonly bounds: LimitBounds;
  readonly streams: StreamLimiter;
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };

export const evaluationRoutes: FastifyPluginAsyncZod<EvaluationRoutesOptions> = async (app, options) => {
  const { service, streams } = options;
  const withOutputView = async (evaluation: Evaluation) => {
    const { stdout, stderr } = await service.withOutput(evaluation);
    return toView(evaluation, { stdout, stderr });
  };

  app.post(
    '/v1/evaluations',
    {
      schema: {
        summary:
          'Submit code for evaluation; a repeat with the same Idempotency-Key answers the first evaluation; ' +
          '?wait=N answers the evaluation once terminal (status and Location at once, the body then)',
        body: submissionSchema(options.bounds),
        headers: IdempotencyHeadersSchema,
        querystring: SubmitQuerySchema,
        response: { 202: EvaluationSchema, 409: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const { evaluation, replayed } = await service.submit(request.body, {
        ...(key === undefined ? {} : { idempotencyKey: key }),
        ...(request.query.mirror === undefined ? {} : { mirrorTo: request.query.mirror }),
        caller: request.caller,
      });
      if (replayed) void reply.header('idempotent-replayed', 'true');
      void reply.status(202).header('location', `/v1/evaluations/${evaluation.id}`);
      const waitSeconds = request.query.wait ?? 0;
      if (waitSeconds <= 0) return reply.send(toView(evaluation));
      // One request instead of submit-then-wait: the status and Location go out now, the body at the end.
      const held = heldJson(reply.raw, async (signal) =>
        withOutputView(await service.wait(evaluation.id, waitSeconds * 1000, signal, request.caller)),
      );
      // The type provider knows JSON payloads only; Fastify sends a stream as it is (unserialized).
      return reply.type('application/json; charset=utf-8').send(held as unknown as EvaluationView);
    },
  );

  app.get(
    '/v1/evaluations/:id',
    {
      schema: {
        summary: 'Get an evaluation; ?wait=N holds the request up to N seconds until it is terminal',
        params: IdParamsSchema,
        querystring: WaitQuerySchema,
        response: { 200: EvaluationSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const waitSeconds = request.query.wait ?? 0;
      if (waitSeconds <= 0) return withOutputView(await service.get(id, request.caller));
      const gone = clientGone(reply.raw);
      try {
        return await withOutputView(await service.wait(id, waitSeconds * 1000, gone.signal, request.caller));
      } finally {
        gone.dispose();
      }
    },
  );

  app.get(
    '/v1/evaluations',
    {
      schema: {
        summary: 'List evaluations, newest first',
        querystring: ListQuerySchema,
        response: {
          200: z.object({ items: z.array(ListItemSchema), nextCursor: z.string().nullable() }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { status, label, limit, cursor, project, user } = request.query;
      const { batch } = request.query;
      if (batch !== undefined && service.batches) {
        const filter = { limit, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) };
        const page = await service.batches.list(batch, filter, request.caller);
        return { items: page.items.map(toListItem), nextCursor: page.nextCursor };
      }
      const [key = '', value = ''] = label?.split('=') ?? [];
      const page = await service.list(
        {
          limit,
          ...(status ? { status } : {}),
          ...(label ? { label: { key, value } } : {}),
          ...(cursor ? { cursor } : {}),
          ...(project ? { project } : {}),
          ...(user ? { user } : {}),
        },
        request.caller,
      );
      return { items: page.items.map(toListItem), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/evaluations/:id/transitions',
    {
      schema: {
        summary: 'Every recorded status change of an evaluation, oldest first',
        params: IdParamsSchema,
        response: { 200: z.object({ items: z.array(TransitionSchema) }), ...errors },
      },
    },
    async (request) => {
      return { items: await service.transitionsOf(request.params.id, request.caller) };
    },
  );

  app.delete(
    '/v1/evaluations/:id',
    {
      schema: {
        summary: 'Cancel an evaluation (idempotent; a terminal evaluation is left as it is)',
        params: IdParamsSchema,
        response: { 200: EvaluationSchema, ...errors },
      },
    },
    // With its output: a cancelled run may have printed, and an empty `stdout` would say it had not.
    async (request) => withOutputView(await service.cancel(request.params.id, request.caller)),
  );

  app.get(
    '/v1/evaluations/:id/logs',
    {
      schema: {
        summary:
          'Log chunks as NDJSON (or SSE with Accept: text/event-stream); follow=true streams until terminal',
        params: IdParamsSchema,
        querystring: LogsQuerySchema,
        response: errors,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      // Before the stream's headers: another user's evaluation answers 404, not an empty stream.
      await service.get(id, request.caller);
      const { follow, stream, after } = request.query;
      const sse = (request.headers.accept ?? '').includes('text/event-stream');
      await streamFrames(
        request,
        reply,
        streams,
        async function* (signal) {
          const chunks = service.followLogs(
            id,
            {
              follow,
              signal,
              ...(stream === 'all' ? {} : { stream }),
              ...(after === undefined ? {} : { afterSeq: after }),
            },
            request.caller,
          );
          for await (const chunk of chunks) {
            const line = JSON.stringify(logLine(chunk));
            yield sse ? `id: ${chunk.seq}\nevent: log\ndata: ${line}\n\n` : `${line}\n`;
          }
          if (sse) yield 'event: end\ndata: {}\n\n';
        },
        sse ? SSE : NDJSON,
      );
    },
  );
};

/** `data` when the chunk is text on its own; `base64` when it is not (a split character or binary output). */
function logLine(chunk: LogChunk) {
  const base = { seq: chunk.seq, stream: chunk.stream, at: chunk.at };
  return isUtf8(chunk.data)
    ? { ...base, data: chunk.data.toString('utf8') }
    : { ...base, base64: chunk.data.toString('base64') };
}
