import {
  CrucibleError,
  placementOf,
  type Evaluation,
  type ProjectPlacement,
  type Submission,
} from '../core/index.js';
import type { ProjectStore } from '../store/store.js';

/**
 * What the evaluation service needs to know of projects while it schedules: whether a submission's project
 * exists and fits it, each project's `maxConcurrent` (read at submission and launch), and which runs held
 * here belong to which project, so a claim never starts more than a project's share. Per working replica: on
 * Kubernetes one leader works; on the local backend each replica keeps its own count.
 */
export class ProjectRuns {
  readonly #store: ProjectStore | undefined;
  readonly #limits = new Map<string, number | undefined>();
  /** The project of each run holding a slot here. */
  readonly #held = new Map<string, string>();

  constructor(store: ProjectStore | undefined) {
    this.#store = store;
  }

  /** The submission's project must exist (404 naming `project`), and one evaluation must fit its memory. */
  async check(submission: Submission, defaultMemoryMb: number): Promise<void> {
    if (submission.project === undefined) return;
    const project = this.#store ? await this.#store.getProject(submission.project) : null;
    if (!project) {
      throw new CrucibleError('not_found', `no project with id "${submission.project}"`, 'project');
    }
    this.#limits.set(project.id, project.limits.maxConcurrent);
    const memoryMb = submission.memoryMb ?? defaultMemoryMb;
    const limit = project.limits.memoryMb;
    if (limit !== undefined && memoryMb > limit) {
      throw new CrucibleError(
        'invalid_request',
        `memoryMb ${memoryMb} is more than project "${project.name}" allows in all (limits.memoryMb ${limit})`,
        'memoryMb',
      );
    }
  }

  /** The placement the runtime gets; a project deleted meanwhile fails the launch (its runs are cancelled). */
  async placement(evaluation: Evaluation): Promise<ProjectPlacement | undefined> {
    if (!evaluation.project) return undefined;
    const project = await this.#store?.getProject(evaluation.project);
    if (!project) throw new Error(`project ${evaluation.project} no longer exists`);
    this.#limits.set(project.id, project.limits.maxConcurrent);
    return placementOf(project);
  }

  /** A run of `evaluation` holds a slot here (claimed or adopted). */
  held(evaluation: Evaluation): void {
    if (evaluation.project) this.#held.set(evaluation.id, evaluation.project);
  }

  released(evaluationId: string): void {
    this.#held.delete(evaluationId);
  }

  /**
   * For one claim: a pure check whether a queued evaluation's project has room for one more run, counting
   * the picks of this claim too. A project not read since the server started has no known limit yet: its
   * first launch reads it (and the cluster's quota bounds it meanwhile).
   */
  roomForClaim(): (queued: Evaluation) => boolean {
    const picked = new Map<string, number>();
    return (queued) => {
      const project = queued.project;
      if (!project) return true;
      const limit = this.#limits.get(project);
      const now = picked.get(project) ?? 0;
      if (limit !== undefined) {
        let running = now;
        for (const of of this.#held.values()) if (of === project) running += 1;
        if (running >= limit) return false;
      }
      picked.set(project, now + 1);
      return true;
    };
  }
}
