import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { EvaluationService } from '../../service/index.js';
import { LanguagesSchema } from '../grading-schemas.js';
import { ErrorSchema } from '../schemas.js';

export interface LanguageRoutesOptions {
  readonly service: EvaluationService;
}

/**
 * `GET /v1/languages`: every language of the table, with the version installed where this server runs them
 * (probed once) and, for one that is not installed, the command that installs it.
 */
export const languageRoutes: FastifyPluginAsyncZod<LanguageRoutesOptions> = async (app, options) => {
  app.get(
    '/v1/languages',
    {
      schema: {
        summary: 'The languages this server can run, with their versions',
        response: { 200: LanguagesSchema, 401: ErrorSchema, 429: ErrorSchema },
      },
    },
    async () => ({ items: await options.service.languages() }),
  );
};
