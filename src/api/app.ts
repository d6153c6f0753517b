import fastifySwagger from '@fastify/swagger';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { CrucibleError, type LimitBounds } from '../core/index.js';
import type { EvaluationService, Logger } from '../service/index.js';
import { accessOf, installAuth } from './auth.js';
import { createErrorHandler } from './errors.js';
import { parseJsonBody } from './json-body.js';
import { batchRoutes } from './routes/batches.js';
import { clusterRoutes } from './routes/clusters.js';
import { eventRoutes } from './routes/events.js';
import { artifactRoutes } from './routes/artifacts.js';
import { retentionRoutes } from './routes/retention.js';
import { evaluationRoutes } from './routes/evaluations.js';
import { projectRoutes } from './routes/projects.js';
import { systemRoutes } from './routes/system.js';
import { languageRoutes } from './routes/languages.js';
import { usageRoutes } from './routes/usage.js';
import { sandboxRoutes } from './routes/sandboxes.js';
import type { SandboxService } from '../service/sandboxes.js';
import { tokenRoutes } from './routes/tokens.js';
import { webhookRoutes } from './routes/webhooks.js';
import type { StreamLimiter } from './streaming.js';

import { tracingHooks, type Tracing } from '../tracing/index.js';
import { uiRoutes } from './routes/ui.js';

export interface ApiOptions {
  readonly service: EvaluationService;
  readonly bounds: LimitBounds;
  readonly metrics: Registry;
  readonly isReady: () => boolean;
  readonly rateLimitPerMinute: number;
  readonly streams: StreamLimiter;
  /** Where failures the client is told to look up (500s) are written. */
  readonly log: Logger;
  /** The package version, answered by `GET /v1/version`. */
  readonly version: string;
  /** Every non-public call needs a bearer token (docs/auth.md); default off (everyone is an admin). */
  readonly authRequired?: boolean;
  /** Interactive sandboxes (docs/sandboxes.md); their routes exist only when given. */
  readonly sandboxes?: SandboxService;
  /** Starts each submission's trace (docs/observability.md); absent or off: no hook at all. */
  readonly tracing?: Tracing;
  /** Where the dashboard's bundle is (docs/dashboard.md); default `dist/ui` of this checkout. */
  readonly uiDir?: string;
}

/** Largest request body accepted: the code and stdin bounds plus room for the JSON around them. */
function bodyLimit(bounds: LimitBounds): number {
  return Math.ceil((bounds.maxCodeBytes + bounds.maxStdinBytes) * 1.1) + 64 * 1024;
}

/**
 * Builds the HTTP API. Thin by design: routes validate and call the service, never a backend.
 *
 * @example
 * const app = await buildApi({ service, bounds, metrics, isReady: () => true, rateLimitPerMinute: 0, streams });
 * await app.listen({ port: 8080 });
 */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const bodyLimitBytes = bodyLimit(options.bounds);
  const handleError = createErrorHandler({ log: options.log, bodyLimitBytes });
  const app = Fastify({
    // Request logs stay off (they would cost per-request work); errors go through `options.log`.
    logger: false,
    bodyLimit: bodyLimitBytes,
    // A client that stops sending mid-request must not hold a connection forever.
    requestTimeout: 60_000,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    // Streams (SSE, log follow) never end on their own: closing the server must cut them.
    forceCloseConnections: true,
    // Malformed URLs and over-long path parameters get our error shape too, not Fastify's default one.
    frameworkErrors: (error, request, reply) => void handleError(error, request, reply),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: { code: 'not_found', message: `no route ${request.method} ${request.url}`, field: null },
    });
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  if (options.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: options.rateLimitPerMinute,
      timeWindow: 60_000,
      allowList: (request) => request.url === '/healthz' || request.url === '/readyz',
      // The plugin throws what this returns, so it must be an error our handler maps (a plain object with a
      // 429 statusCode came out as `invalid_request`).
      errorResponseBuilder: (_request, context) =>
        new CrucibleError(
          'rate_limited',
          `rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`,
          null,
        ),
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Crucible',
        description: 'Run untrusted code in isolated sandboxes and report what happened.',
        version: '1',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A token from `crucible token create` or CRUCIBLE_ADMIN_TOKEN (docs/auth.md)',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    // Public routes say so, so generated clients send no token there.
    transform: (input) => {
      const output = jsonSchemaTransform(input);
      const methods = [input.route.method].flat();
      return methods.some((method) => accessOf(method, input.url) === 'public')
        ? { ...output, schema: { ...output.schema, security: [] } }
        : output;
    },
  });

  const { service, bounds, streams } = options;
  // Before every route, so no route exists without it.
  installAuth(app, { required: options.authRequired ?? false, service });
  if (options.tracing?.enabled) tracingHooks(app, options.tracing);
  await app.register(evaluationRoutes, { service, bounds, streams });
  await app.register(artifactRoutes, { service });
  await app.register(retentionRoutes, { service });
  await app.register(batchRoutes, { service, bounds });
  await app.register(eventRoutes, { service, streams });
  await app.register(projectRoutes, { service });
  await app.register(clusterRoutes, { service });
  await app.register(webhookRoutes, { service });
  await app.register(usageRoutes, { service });
  await app.register(uiRoutes, {
    service,
    authRequired: options.authRequired ?? false,
    ...(options.uiDir ? { dir: options.uiDir } : {}),
  });
  await app.register(languageRoutes, { service });
  await app.register(tokenRoutes, { service });
  if (options.sandboxes) await app.register(sandboxRoutes, { sandboxes: options.sandboxes, streams });
  await app.register(systemRoutes, {
    service,
    metrics: options.metrics,
    isReady: options.isReady,
    version: options.version,
  });
  return app;
}
