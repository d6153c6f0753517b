import type { V1ContainerStatus, V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import type { PlatformErrorOutcome, PlatformStages, RunOutcome } from '../../core/index.js';
import type { RunnerExit } from './frames.js';
import { MAIN_CONTAINER } from './names.js';
import { COMPILE_CONTAINER } from './staged.js';

/**
 * The one place where Job and Pod status become lifecycle facts. Inputs are the latest objects the monitor
 * holds (a relist may jump straight from Pending to Failed, so nothing here assumes it saw every step).
 */

/** Timestamps come as `Date` from typed lists and as strings from watch events: normalise here. */
export function toDate(value: Date | string | undefined | null): Date | null {
  if (value === undefined || value === null) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const iso = (value: Date | string | undefined | null): string | null => toDate(value)?.toISOString() ?? null;

/**
 * The stages the cluster itself records, read from the latest Job and pod: the Job's creationTimestamp, the
 * pod's PodScheduled condition (True), and the main container's start and end. The API server's timestamps
 * have one-second resolution (RFC 3339 without fractions), so these are coarser than Crucible's own stamps.
 */
export function platformStages(job: V1Job | undefined, pod: V1Pod | undefined): Partial<PlatformStages> {
  const scheduled = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'True');
  const main = pod?.status?.containerStatuses?.find((c) => c.name === MAIN_CONTAINER);
  const state = main?.state;
  return {
    jobCreatedAt: iso(job?.metadata?.creationTimestamp),
    podScheduledAt: iso(scheduled?.lastTransitionTime),
    containerStartedAt: iso(state?.running?.startedAt ?? state?.terminated?.startedAt),
    containerFinishedAt: iso(state?.terminated?.finishedAt),
  };
}

export type StuckReason = 'image_pull' | 'config_error' | 'unschedulable' | 'container_start_failed';

export type PodView =
  | { readonly kind: 'absent' }
  | { readonly kind: 'pending' }
  | { readonly kind: 'stuck'; readonly reason: StuckReason; readonly message: string }
  | { readonly kind: 'running'; readonly startedAt: Date }
  | {
      readonly kind: 'terminated';
      readonly exitCode: number;
      readonly reason: string;
      readonly startedAt: Date | null;
      readonly finishedAt: Date | null;
      /** The compile init container was killed (staged.ts): the main container never ran, has no log. */
      readonly initOnly?: boolean;
    }
  | { readonly kind: 'disrupted'; readonly message: string }
  /** The container runtime could not start a container (missing binary, bad command): it never ran. */
  | { readonly kind: 'startFailed'; readonly message: string };

export type JobView =
  | { readonly kind: 'absent' }
  | { readonly kind: 'active' }
  | { readonly kind: 'succeeded'; readonly at: Date | null }
  | { readonly kind: 'failed'; readonly reason: string; readonly message: string; readonly at: Date | null };

const IMAGE_PULL_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
]);
const CONFIG_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError']);
/** Terminated reasons (exit 128) for a container the runtime could not start: containerd, then dockershim. */
const START_FAILURE_REASONS = new Set(['StartError', 'ContainerCannotRun']);

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

/** Job conditions: `SuccessCriteriaMet`/`FailureTarget` (1.31+) come before `Complete`/`Failed`; take either. */
export function viewJob(job: V1Job | undefined): JobView {
  if (!job) return { kind: 'absent' };
  const failed = condition(job, 'Failed') ?? condition(job, 'FailureTarget');
  if (failed) {
    return {
      kind: 'failed',
      reason: failed.reason ?? 'Failed',
      message: failed.message ?? '',
      at: toDate(failed.lastTransitionTime),
    };
  }
  const done = condition(job, 'Complete') ?? condition(job, 'SuccessCriteriaMet');
  if (done) return { kind: 'succeeded', at: toDate(done.lastTransitionTime) };
  return { kind: 'active' };
}

function waitingStuck(statuses: V1ContainerStatus[] | undefined): PodView | null {
  for (const status of statuses ?? []) {
    const reason = status.state?.waiting?.reason ?? '';
    const message = status.state?.waiting?.message ?? reason;
    if (IMAGE_PULL_REASONS.has(reason)) {
      return { kind: 'stuck', reason: 'image_pull', message: `${reason}: ${status.image}: ${message}` };
    }
    if (CONFIG_REASONS.has(reason))
      return { kind: 'stuck', reason: 'config_error', message: `${reason}: ${message}` };
    // Waiting to be started again after a failed start (restartPolicy Never goes to StartError instead).
    if (reason === 'RunContainerError')
      return { kind: 'stuck', reason: 'container_start_failed', message: `${reason}: ${message}` };
  }
  return null;
}

/** A main or init container the runtime could not start, with the kubelet's message. */
function startFailure(pod: V1Pod): PodView | null {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const status of statuses) {
    const terminated = status.state?.terminated;
    if (terminated && START_FAILURE_REASONS.has(terminated.reason ?? '')) {
      const detail = terminated.message ?? `exit code ${terminated.exitCode}`;
      return { kind: 'startFailed', message: `${terminated.reason} (container ${status.name}): ${detail}` };
    }
  }
  return null;
}

export function viewPod(pod: V1Pod | undefined): PodView {
  if (!pod) return { kind: 'absent' };
  const main = pod.status?.containerStatuses?.find((c) => c.name === MAIN_CONTAINER);
  const disruption = pod.status?.conditions?.find(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True',
  );
  const failedStart = startFailure(pod);
  if (failedStart) return failedStart;
  // A compile init container ends 0 whatever the compiler did; non-zero, it was killed (an OOM).
  const compile = pod.status?.initContainerStatuses?.find((c) => c.name === COMPILE_CONTAINER)?.state
    ?.terminated;
  if (compile && compile.exitCode !== 0 && !main?.state?.terminated && !main?.state?.running) {
    return {
      kind: 'terminated',
      exitCode: compile.exitCode,
      reason: compile.reason ?? '',
      startedAt: toDate(compile.startedAt),
      finishedAt: toDate(compile.finishedAt),
      initOnly: true,
    };
  }
  const terminated = main?.state?.terminated;
  if (terminated) {
    if (terminated.reason === 'ContainerStatusUnknown' || disruption) {
      return {
        kind: 'disrupted',
        message: disruption?.message ?? terminated.message ?? terminated.reason ?? '',
      };
    }
    return {
      kind: 'terminated',
      exitCode: terminated.exitCode,
      reason: terminated.reason ?? '',
      startedAt: toDate(terminated.startedAt),
      finishedAt: toDate(terminated.finishedAt),
    };
  }
  if (disruption)
    return { kind: 'disrupted', message: disruption.message ?? disruption.reason ?? 'disrupted' };
  if (pod.status?.phase === 'Failed') {
    return { kind: 'disrupted', message: `${pod.status.reason ?? 'Failed'}: ${pod.status.message ?? ''}` };
  }
  const running = main?.state?.running;
  if (running) return { kind: 'running', startedAt: toDate(running.startedAt) ?? new Date(0) };
  // The evaluation runs from its compile on, as on the local backend (the compile is its first stage).
  const compiling = pod.status?.initContainerStatuses?.find((c) => c.name === COMPILE_CONTAINER)?.state
    ?.running;
  if (compiling) return { kind: 'running', startedAt: toDate(compiling.startedAt) ?? new Date(0) };
  const stuck =
    waitingStuck(pod.status?.initContainerStatuses) ?? waitingStuck(pod.status?.containerStatuses);
  if (stuck) return stuck;
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return { kind: 'stuck', reason: 'unschedulable', message: scheduled.message ?? 'Unschedulable' };
  }
  return { kind: 'pending' };
}

/** What the runtime should do next for one evaluation. */
export type Assessment =
  | { readonly kind: 'wait' }
  | { readonly kind: 'stuck'; readonly reason: StuckReason; readonly message: string }
  | { readonly kind: 'started'; readonly at: Date }
  /** The program ended; `outcome` is final once the logs are complete. */
  | { readonly kind: 'ended'; readonly outcome: RunOutcome };

export interface AssessInput {
  readonly job: JobView;
  readonly pod: PodView;
  /** The runner's exit frame, when the logs already had it: exact exit code, signal and timeout. */
  readonly runnerExit: RunnerExit | null;
  /** The pod was seen deleted (not by us) before it terminated. */
  readonly podDeleted: boolean;
  /**
   * The pod was deleted long enough ago that a Job still shown active will not report why any more (the
   * deadline, say: the job controller deletes the pods, and that can arrive before the Job's condition).
   */
  readonly podGoneSettled: boolean;
  /** The Job ended long enough ago that a missing pod status will not come any more. */
  readonly jobSettled: boolean;
  readonly now: Date;
}

function platformError(reason: PlatformErrorOutcome['reason'], message: string, at: Date): Assessment {
  return { kind: 'ended', outcome: { kind: 'error', reason, message, at } };
}

/**
 * Maps the latest Job/Pod views to the next step. An exhaustive switch over the pod view; the Job view
 * decides what the pod cannot tell (a deadline, a pod that vanished).
 */
export function assess(input: AssessInput): Assessment {
  const { job, pod, runnerExit, now } = input;
  const deadline = job.kind === 'failed' && job.reason === 'DeadlineExceeded';
  // Job and Pod come on separate watches: a Job that ended is followed by its pod's final status, and a
  // pod the job controller deleted by its Job's condition. Conclude from the Job alone only when the pod is
  // gone and the Job ended (or the wait for it ran out), the deadline killed it, or the wait ran out.
  const podGone = input.podDeleted && (job.kind !== 'active' || input.podGoneSettled);
  const podWillNotReport =
    job.kind === 'absent' || podGone || deadline || (input.jobSettled && job.kind !== 'active');
  switch (pod.kind) {
    case 'terminated': {
      const startedAt = pod.startedAt ?? pod.finishedAt ?? now;
      const finishedAt = pod.finishedAt ?? now;
      // A non-zero exit may be the job controller killing the pod at its deadline: wait for the Job to say.
      if (pod.exitCode !== 0 && job.kind === 'active' && !runnerExit?.timedOut) return { kind: 'wait' };
      const oomKilled = pod.reason === 'OOMKilled';
      return {
        kind: 'ended',
        outcome: {
          kind: 'exited',
          exitCode: oomKilled ? pod.exitCode : (runnerExit?.exitCode ?? (runnerExit ? null : pod.exitCode)),
          signal: oomKilled ? null : (runnerExit?.signal ?? null),
          timedOut: deadline || (runnerExit?.timedOut ?? false),
          oomKilled,
          startedAt,
          finishedAt,
          // From the runner's exit frame: the kubelet keeps no usage of a terminated container.
          cpuTimeMs: runnerExit?.cpuTimeMs ?? null,
          peakMemoryBytes: runnerExit?.peakMemoryBytes ?? null,
          memoryEnforcement: 'kubernetes',
        },
      };
    }
    case 'disrupted':
      return platformError('infrastructure', `The pod was disrupted: ${pod.message}`, now);
    case 'startFailed':
      return platformError('container_start_failed', `The container could not start: ${pod.message}`, now);
    case 'running':
      if (podWillNotReport) return endedWithoutPod(input);
      // Gone while its Job still looks active: the Job's next status says why.
      if (input.podDeleted) return { kind: 'wait' };
      return { kind: 'started', at: pod.startedAt };
    case 'stuck':
      if (job.kind === 'failed') return endedWithoutPod(input, pod);
      return { kind: 'stuck', reason: pod.reason, message: pod.message };
    case 'pending':
    case 'absent':
      if (podWillNotReport) return endedWithoutPod(input);
      return { kind: 'wait' };
  }
}

/** The Job ended (or the pod vanished) while we never saw the container terminate. */
function endedWithoutPod(input: AssessInput, stuck?: { reason: StuckReason; message: string }): Assessment {
  const { job, now } = input;
  if (stuck) return platformError(stuck.reason, stuck.message, now);
  switch (job.kind) {
    case 'succeeded': {
      // Seen only after a relist: the pod is gone but the Job says the program exited 0.
      const at = job.at ?? now;
      return {
        kind: 'ended',
        outcome: {
          kind: 'exited',
          exitCode: input.runnerExit?.exitCode ?? 0,
          signal: null,
          timedOut: false,
          oomKilled: false,
          startedAt: at,
          finishedAt: at,
          cpuTimeMs: input.runnerExit?.cpuTimeMs ?? null,
          peakMemoryBytes: input.runnerExit?.peakMemoryBytes ?? null,
          memoryEnforcement: 'kubernetes',
        },
      };
    }
    case 'failed':
      if (job.reason === 'DeadlineExceeded' && input.pod.kind === 'running') {
        const at = job.at ?? now;
        return {
          kind: 'ended',
          outcome: {
            kind: 'exited',
            exitCode: null,
            signal: 'SIGKILL',
            timedOut: true,
            oomKilled: false,
            startedAt: input.pod.startedAt,
            finishedAt: at,
            // Killed with its pod at the deadline: the runner wrote no exit frame, so nothing was measured.
            cpuTimeMs: null,
            peakMemoryBytes: null,
            memoryEnforcement: 'kubernetes',
          },
        };
      }
      return platformError(
        'infrastructure',
        `The Job failed before the program ended: ${job.reason} ${job.message}`,
        now,
      );
    case 'absent':
    case 'active':
      return platformError('infrastructure', 'The pod was deleted before the program ended.', now);
  }
}
