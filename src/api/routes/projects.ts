import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CrucibleError, type Project } from '../../core/index.js';
import type { ProjectService } from '../../service/projects.js';
import type { EvaluationService } from '../../service/index.js';
import { ErrorSchema, IdParamsSchema, NewProjectSchema, ProjectSchema } from '../schemas.js';

export interface ProjectRoutesOptions {
  readonly service: EvaluationService;
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema };

/**
 * `POST/GET/DELETE /v1/projects`. On the Kubernetes backend a project's namespace (`proj-<id>`) is made on
 * its first evaluation and removed, with its Jobs, when the project is deleted.
 */
export const projectRoutes: FastifyPluginAsyncZod<ProjectRoutesOptions> = async (app, options) => {
  const projects = (): ProjectService => {
    const found = options.service.projects;
    if (!found) throw new CrucibleError('not_found', 'this server keeps no projects', null);
    return found;
  };

  app.post(
    '/v1/projects',
    {
      schema: {
        summary: 'Create a project: its own namespace, network policy and quota on the Kubernetes backend',
        body: NewProjectSchema,
        response: { 201: ProjectSchema, 409: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => {
      const project = await projects().create(request.body, request.caller);
      return reply.status(201).header('location', `/v1/projects/${project.id}`).send(projectView(project));
    },
  );

  app.get(
    '/v1/projects',
    {
      schema: {
        summary: 'List projects, oldest first',
        response: { 200: z.object({ items: z.array(ProjectSchema) }), ...errors },
      },
    },
    async () => ({ items: (await projects().list()).map(projectView) }),
  );

  app.get(
    '/v1/projects/:id',
    {
      schema: {
        summary: 'Get a project',
        params: IdParamsSchema,
        response: { 200: ProjectSchema, ...errors },
      },
    },
    async (request) => projectView(await projects().get(request.params.id)),
  );

  app.delete(
    '/v1/projects/:id',
    {
      schema: {
        summary:
          'Delete a project: its queued and running evaluations are cancelled, then its namespace is removed',
        params: IdParamsSchema,
        response: {
          200: ProjectSchema.extend({ cancelledEvaluations: z.array(z.string()) }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { project, cancelled } = await projects().delete(request.params.id, request.caller);
      return { ...projectView(project), cancelledEvaluations: [...cancelled] };
    },
  );
};

/** The public shape of a project (a copy: the response must not share arrays with the store's object). */
function projectView(project: Project): z.infer<typeof ProjectSchema> {
  return { ...project, limits: { ...project.limits }, egress: [...project.egress] };
}
