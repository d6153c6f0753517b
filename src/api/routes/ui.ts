import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EvaluationService } from '../../service/index.js';
import { ErrorSchema, IdParamsSchema } from '../schemas.js';

/**
 * The dashboard's bundle, built by `npm run build` (scripts/bundle-ui.mjs) into `<root>/dist/ui`: from
 * `src/api/routes` (tests) and from `dist/api/routes` (the build) alike, three levels up and into `dist/ui`.
 */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../dist/ui/', import.meta.url));

export interface UiRoutesOptions {
  readonly service: EvaluationService;
  readonly authRequired: boolean;
  /** Where the bundle is; default `DEFAULT_UI_DIR`. */
  readonly dir?: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

/** A name esbuild gave a content hash (`app-3FZQ2KZL.js`): it never changes meaning, so it is cached for good. */
const HASHED = /-[A-Z0-9]{8}\.[a-z0-9]+$/;

/**
 * The web dashboard (docs/dashboard.md): `GET /` answers its page, `GET /ui/<file>` the bundled assets,
 * `GET /ui/session` what the page needs before its first call. The page itself holds no data: it calls the
 * same `/v1` API as any client, with the token the user gave it.
 */
export const uiRoutes: FastifyPluginAsyncZod<UiRoutesOptions> = async (app, options) => {
  const dir = options.dir ?? DEFAULT_UI_DIR;
  const { service } = options;

  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    const page = await readFile(path.join(dir, 'index.html')).catch(() => null);
    if (!page) {
      return reply
        .status(404)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build` (it bundles src/ui into dist/ui).');
    }
    // Revalidated every time: it names the current hashed assets.
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
  });

  app.get('/ui/:file', { schema: { hide: true } }, async (request, reply) => {
    const name = (request.params as { file: string }).file;
    const type = TYPES[path.extname(name)];
    // One flat directory: no separators (an encoded one arrives decoded), so no way out of it.
    if (!type || name.includes('/') || name.includes('\\') || name.startsWith('.')) {
      return reply
        .status(404)
        .send({ error: { code: 'not_found', message: `no asset ${name}`, field: null } });
    }
    const body = await readFile(path.join(dir, name)).catch(() => null);
    if (!body)
      return reply
        .status(404)
        .send({ error: { code: 'not_found', message: `no asset ${name}`, field: null } });
    const cache = HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache';
    return reply.type(type).header('cache-control', cache).send(body);
  });

  app.get(
    '/ui/session',
    {
      schema: {
        hide: true,
        response: { 200: z.object({ authRequired: z.boolean(), seq: z.number() }) },
      },
    },
    // The newest transition's seq: the page lists first, then follows /v1/events after it, without a gap.
    async () => ({ authRequired: options.authRequired, seq: await service.latestTransitionSeq() }),
  );

  app.get(
    '/ui/evaluations/:id/source',
    {
      schema: {
        hide: true,
        params: IdParamsSchema,
        response: { 200: z.object({ code: z.string(), stdin: z.string() }), 404: ErrorSchema },
      },
    },
    // For "resubmit": the evaluation's code and stdin, which the public views leave out.
    async (request) => {
      const evaluation = await service.get(request.params.id, request.caller);
      return { code: evaluation.code, stdin: evaluation.stdin };
    },
  );
};
