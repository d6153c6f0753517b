import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { EvaluationService } from '../../service/index.js';
import { QueueSchema } from '../schemas.js';

export interface SystemRoutesOptions {
  readonly service: EvaluationService;
  readonly metrics: Registry;
  readonly isReady: () => boolean;
  readonly version: string;
}

export const systemRoutes: FastifyPluginAsyncZod<SystemRoutesOptions> = async (app, options) => {
  const { service, metrics, isReady } = options;

  app.get('/healthz', { schema: { summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get(
    '/v1/version',
    { schema: { summary: 'The server version', response: { 200: z.object({ version: z.string() }) } } },
    async () => ({ version: options.version }),
  );

  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: store reachable and recovery finished' } },
    async (_request, reply) => {
      if (!isReady()) return reply.status(503).send({ status: 'starting' });
      await service.ping();
      return { status: 'ready', runtime: service.runtimeName };
    },
  );

  app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_request, reply) => {
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });

  app.get(
    '/v1/queue',
    {
      schema: {
        summary: 'Queued counts by priority, running count, capacity',
        response: { 200: QueueSchema },
      },
    },
    async () => service.queueStats(),
  );

  app.get('/openapi.json', { schema: { hide: true, response: { 200: z.unknown() } } }, async () =>
    app.swagger(),
  );
};
