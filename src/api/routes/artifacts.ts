import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CrucibleError, artifactContentType, type ArtifactEntry } from '../../core/index.js';
import type { EvaluationService } from '../../service/index.js';
import { ArtifactSchema, DroppedArtifactSchema, ErrorSchema, IdParamsSchema } from '../schemas.js';

export interface ArtifactRoutesOptions {
  readonly service: EvaluationService;
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };

const ArtifactListSchema = z.object({
  items: z.array(ArtifactSchema.extend({ contentType: z.string() })),
  dropped: z.array(DroppedArtifactSchema),
});

/**
 * `bytes=A-B`, `bytes=A-` or `bytes=-N` of an object of `size` bytes → an inclusive range; null for no (or
 * an unsupported multi-range) header, which serves the whole object as RFC 9110 allows. Throws 416 when no
 * byte is satisfiable.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (header === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  const [, from, to] = match;
  let start: number;
  let end: number;
  if (from === '') {
    const suffix = Number(to);
    start = Math.max(0, size - suffix);
    end = size - 1;
    if (suffix === 0) start = size;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  }
  if (start >= size || start > end) {
    throw new CrucibleError(
      'range_not_satisfiable',
      `range ${header} is outside the artifact's ${size} bytes`,
      'range',
    );
  }
  return { start, end };
}

/** `GET /v1/evaluations/{id}/artifacts` and `…/artifacts/{name}` (docs/artifacts.md). */
export const artifactRoutes: FastifyPluginAsyncZod<ArtifactRoutesOptions> = async (app, { service }) => {
  app.get(
    '/v1/evaluations/:id/artifacts',
    {
      schema: {
        summary: 'The files kept from the evaluation’s /artifacts (name, size, SHA-256) and those dropped',
        params: IdParamsSchema,
        response: { 200: ArtifactListSchema, ...errors },
      },
    },
    async (request) => {
      const evaluation = await service.get(request.params.id, request.caller);
      const stored: readonly ArtifactEntry[] = evaluation.result?.artifacts ?? [];
      return {
        items: stored.map((artifact) => ({ ...artifact, contentType: artifactContentType(artifact.name) })),
        dropped: [...(evaluation.result?.artifactsDropped ?? [])],
      };
    },
  );

  app.get(
    '/v1/evaluations/:id/artifacts/*',
    {
      schema: {
        summary: 'One artifact’s bytes (streamed; Range requests answer 206)',
        params: z.object({ id: z.string().min(1).max(200), '*': z.string().min(1).max(1024) }),
        // No response schema: the body is the artifact's bytes (errors are the usual JSON, 416 included).
      },
    },
    async (request, reply) => {
      const { id, '*': name } = request.params;
      const evaluation = await service.get(id, request.caller);
      const entry = evaluation.result?.artifacts?.find((artifact) => artifact.name === name);
      if (!entry || !service.artifacts) {
        throw new CrucibleError(
          'not_found',
          `evaluation ${id} has no artifact ${JSON.stringify(name)}`,
          'name',
        );
      }
      let range: { start: number; end: number } | null;
      try {
        range = parseRange(request.headers.range, entry.size);
      } catch (error) {
        void reply.header('content-range', `bytes */${entry.size}`);
        throw error;
      }
      const opened = await service.artifacts.open(evaluation, name, range ?? undefined);
      if (!opened) {
        throw new CrucibleError(
          'not_found',
          `artifact ${JSON.stringify(name)} of ${id} is no longer stored`,
          'name',
        );
      }
      const basename = name.split('/').at(-1)!;
      void reply
        .header('content-type', opened.contentType)
        .header('accept-ranges', 'bytes')
        .header('etag', `"${entry.sha256}"`)
        // Bytes a program wrote: never rendered as a page of this origin.
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', 'sandbox')
        .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(basename)}`);
      if (range) {
        void reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${entry.size}`)
          .header('content-length', String(range.end - range.start + 1));
      } else {
        void reply.header('content-length', String(entry.size));
      }
      return reply.send(opened.body);
    },
  );
};
