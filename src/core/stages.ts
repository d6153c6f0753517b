import type { PlatformStages, Timings } from './evaluation.js';

/** Derived durations of an evaluation's lifecycle, each a difference of two stored timestamps (ms). */
export interface StageDurations {
  /** submittedAt → dispatchedAt: waiting in Crucible's queue (and Kueue's, for admitted runs). */
  readonly queueMs: number | null;
  /** dispatchedAt → startedAt: creating the sandbox or the Job, scheduling, pulling, starting. */
  readonly startMs: number | null;
  /** startedAt → finishedAt: the program itself. */
  readonly runMs: number | null;
  /** finishedAt → storedAt: collecting the output and writing the result. */
  readonly storeMs: number | null;
  /** submittedAt → storedAt: end to end. */
  readonly totalMs: number | null;
}

export const NO_PLATFORM_STAGES: PlatformStages = {
  jobCreatedAt: null,
  podScheduledAt: null,
  containerStartedAt: null,
  containerFinishedAt: null,
};

/** The timings of a new submission: only `submittedAt` is known (platform stages are absent until seen). */
export function initialTimings(submittedAt: string): Timings {
  return { submittedAt, dispatchedAt: null, startedAt: null, finishedAt: null, storedAt: null };
}

/** Only the platform stages reached: the domain keeps a stage's key absent until a backend saw it. */
export function reachedPlatformStages(stages: Partial<PlatformStages>): Partial<PlatformStages> {
  return Object.fromEntries(Object.entries(stages).filter(([, at]) => typeof at === 'string'));
}

function between(from: string | null, to: string | null): number | null {
  if (from === null || to === null) return null;
  const ms = Date.parse(to) - Date.parse(from);
  // A clock that stepped back between two stamps is not a negative stage.
  return Number.isFinite(ms) ? Math.max(0, ms) : null;
}

/**
 * The stage durations of one evaluation; null for a stage it has not completed (or skipped: a cancelled
 * queued evaluation has no `startMs`).
 *
 * @example
 * stageDurations(evaluation.timings).queueMs // 12
 */
export function stageDurations(t: Timings): StageDurations {
  return {
    queueMs: between(t.submittedAt, t.dispatchedAt),
    startMs: between(t.dispatchedAt, t.startedAt),
    runMs: between(t.startedAt, t.finishedAt),
    storeMs: between(t.finishedAt, t.storedAt),
    totalMs: between(t.submittedAt, t.storedAt),
  };
}

/**
 * Merges platform stages seen now into those already stored: a stage once stamped keeps its first value (a
 * relist showing the same pod again must not move it), a missing or null one stays as it was.
 */
export function mergePlatformStages(
  stored: Partial<PlatformStages>,
  seen: Partial<PlatformStages> | undefined,
): Partial<PlatformStages> {
  return reachedPlatformStages({ ...reachedPlatformStages(seen ?? {}), ...reachedPlatformStages(stored) });
}

/** The platform stages out of a full `Timings` (what the stores keep in one column). */
export function platformStagesOf(t: Timings): PlatformStages {
  return {
    jobCreatedAt: t.jobCreatedAt ?? null,
    podScheduledAt: t.podScheduledAt ?? null,
    containerStartedAt: t.containerStartedAt ?? null,
    containerFinishedAt: t.containerFinishedAt ?? null,
  };
}
