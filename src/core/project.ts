/**
 * A project: a group of evaluations that the Kubernetes backend isolates in a namespace of its own
 * (`proj-<id>`) with a default-deny NetworkPolicy and a ResourceQuota/LimitRange built from `limits`. The
 * local backend records the project and enforces nothing more.
 */
export interface ProjectLimits {
  /** Memory of every running evaluation of the project together (ResourceQuota `requests/limits.memory`). */
  readonly memoryMb?: number;
  /** Evaluations of the project running at once (ResourceQuota `pods`). */
  readonly maxConcurrent?: number;
  /** CPU cores of every running evaluation together (ResourceQuota `requests/limits.cpu`). */
  readonly cpu?: number;
}

export interface Project {
  readonly id: string;
  /** Unique among projects; a DNS label. */
  readonly name: string;
  /** `proj-<id>`: where the Kubernetes backend runs the project's evaluations. */
  readonly namespace: string;
  readonly limits: ProjectLimits;
  /** CIDRs the project's pods may reach; none (all egress denied) when empty. */
  readonly egress: readonly string[];
  readonly createdAt: string;
}

export interface NewProject {
  readonly name: string;
  readonly limits?: ProjectLimits;
  readonly egress?: readonly string[];
}

export const PROJECT_NAMESPACE_PREFIX = 'proj-';

export function projectNamespace(id: string): string {
  return `${PROJECT_NAMESPACE_PREFIX}${id}`;
}

/** Bounds of project limits; the API names the field and the range when a value leaves them. */
export const PROJECT_LIMIT_BOUNDS = {
  memoryMb: { min: 16, max: 4 * 1024 * 1024 },
  maxConcurrent: { min: 1, max: 10_000 },
  cpu: { min: 0.01, max: 4096 },
  egress: { max: 64 },
} as const;

/** The project as the runtimes see it. */
export type ProjectPlacement = Pick<Project, 'id' | 'namespace' | 'limits' | 'egress'>;

export function placementOf(project: Project): ProjectPlacement {
  return { id: project.id, namespace: project.namespace, limits: project.limits, egress: project.egress };
}
