import { randomUUID } from 'node:crypto';
import {
  CrucibleError,
  placementOf,
  projectNamespace,
  type Evaluation,
  type NewProject,
  type Project,
} from '../core/index.js';
import type { Runtime } from '../runtime/runtime.js';
import { ProjectNameTaken, type ProjectStore } from '../store/store.js';
import { SYSTEM_CALLER, requireAdmin, type Caller } from './caller.js';

/** What deleting a project needs of the evaluation side. */
export interface ProjectEvaluations {
  /** The project's evaluations that are not terminal yet (queued, starting, running). */
  activeOf(projectId: string): Promise<Evaluation[]>;
  cancel(evaluationId: string): Promise<Evaluation>;
}

export interface ProjectServiceOptions {
  readonly store: ProjectStore;
  readonly runtime: Runtime;
  readonly evaluations: ProjectEvaluations;
  readonly now?: () => Date;
  readonly newId?: () => string;
}

export interface DeletedProject {
  readonly project: Project;
  /** Evaluations of the project that were queued or running and are now `cancelled`. */
  readonly cancelled: readonly string[];
}

/**
 * Projects: create, read, delete. A project's namespace (Kubernetes) is made by the runtime on the first
 * evaluation that needs it, not here, so creating a project never fails because the cluster is away.
 */
export class ProjectService {
  readonly #store: ProjectStore;
  readonly #runtime: Runtime;
  readonly #evaluations: ProjectEvaluations;
  readonly #now: () => Date;
  readonly #newId: () => string;

  constructor(options: ProjectServiceOptions) {
    this.#store = options.store;
    this.#runtime = options.runtime;
    this.#evaluations = options.evaluations;
    this.#now = options.now ?? (() => new Date());
    // A UUID keeps `proj-<id>` a valid namespace name (41 characters, lower-case hex and dashes).
    this.#newId = options.newId ?? randomUUID;
  }

  /** Admins only: a project is a namespace with its own quota and egress policy, not one user's. */
  async create(input: NewProject, caller: Caller = SYSTEM_CALLER): Promise<Project> {
    requireAdmin(caller, 'creating a project');
    const id = this.#newId();
    const project: Project = {
      id,
      name: input.name,
      namespace: projectNamespace(id),
      limits: { ...input.limits },
      egress: [...(input.egress ?? [])],
      createdAt: this.#now().toISOString(),
    };
    try {
      await this.#store.createProject(project);
    } catch (error) {
      if (error instanceof ProjectNameTaken) {
        throw new CrucibleError('already_exists', `a project named "${input.name}" already exists`, 'name');
      }
      throw error;
    }
    return project;
  }

  /** @throws CrucibleError not_found naming `field` (the route's `id`, or a submission's `project`) */
  async get(id: string, field = 'id'): Promise<Project> {
    const project = await this.#store.getProject(id);
    if (!project) throw new CrucibleError('not_found', `no project with id "${id}"`, field);
    return project;
  }

  list(): Promise<Project[]> {
    return this.#store.listProjects();
  }

  /**
   * Deletes the project first (new submissions naming it are refused from then on), then cancels its
   * evaluations that were queued or running, then removes what the runtime made for it (on Kubernetes the
   * namespace, with its Jobs, pods and policies). Finished evaluations stay, still naming the project. When
   * the runtime cannot remove its part (the cluster does not answer), the project is put back and the call
   * answers `not_ready`, so the delete can be repeated; its evaluations stay cancelled.
   */
  async delete(id: string, caller: Caller = SYSTEM_CALLER): Promise<DeletedProject> {
    // Admins only: it cancels every user's evaluations in the project.
    requireAdmin(caller, 'deleting a project');
    const project = await this.get(id);
    await this.#store.deleteProject(id);
    const cancelled: string[] = [];
    for (const evaluation of await this.#evaluations.activeOf(id)) {
      const after = await this.#evaluations.cancel(evaluation.id);
      if (after.status === 'cancelled') cancelled.push(evaluation.id);
    }
    try {
      await this.#runtime.removeProject?.(placementOf(project));
    } catch (error) {
      await this.#store.createProject(project).catch(() => undefined);
      const reason = error instanceof Error ? error.message : String(error);
      throw new CrucibleError(
        'not_ready',
        `the project's evaluations were cancelled but its namespace ${project.namespace} could not be removed ` +
          `(${reason}); the project is kept: repeat the delete`,
        null,
      );
    }
    return { project, cancelled };
  }
}
