import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EvaluationService } from '../../service/index.js';

export const ClusterSchema = z.object({
  name: z.string(),
  health: z.enum(['healthy', 'unreachable']),
  /** When its API stopped answering; null while healthy. */
  unreachableSince: z.string().nullable(),
  /** Evaluations placed there that have not finished. */
  running: z.number().int(),
  /** Evaluations of the default size its ResourceQuota admits at once; null when no quota bounds it. */
  capacity: z.number().int().nullable(),
  lastError: z.string().nullable(),
});

export const ClustersSchema = z.object({ clusters: z.array(ClusterSchema) });

export interface ClusterRoutesOptions {
  readonly service: EvaluationService;
}

/** `GET /v1/clusters`: an empty list on backends with a single cluster (or none). */
export const clusterRoutes: FastifyPluginAsyncZod<ClusterRoutesOptions> = async (app, { service }) => {
  app.get(
    '/v1/clusters',
    {
      schema: {
        summary: "Each cluster's health, running count and capacity (more than one cluster)",
        response: { 200: ClustersSchema },
      },
    },
    async () => ({ clusters: service.clusters() }),
  );
};
