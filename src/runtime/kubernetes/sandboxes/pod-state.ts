import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { MAIN_CONTAINER } from '../names.js';

/** What one observed state of a sandbox pod means. Pure. */
export type PodVerdict =
  | { readonly kind: 'running' }
  /** Not yet running; `note` says what it waits for when that is worth reporting (unschedulable). */
  | { readonly kind: 'pending'; readonly note: string | null }
  /** It will never run: an image that cannot be pulled, a container that cannot be created. */
  | { readonly kind: 'cannot_start'; readonly message: string }
  /** It ran and stopped, or it is gone. */
  | { readonly kind: 'ended'; readonly reason: 'crashed' | 'oom' | 'lost'; readonly message: string };

/** Waiting reasons after which a container never starts without someone changing the pod. */
const HOPELESS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'CrashLoopBackOff',
]);

function waitingProblem(statuses: V1ContainerStatus[] | undefined): string | null {
  for (const status of statuses ?? []) {
    const waiting = status.state?.waiting;
    if (waiting?.reason && HOPELESS.has(waiting.reason)) {
      return `container ${status.name}: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`;
    }
  }
  return null;
}

/**
 * Running means the main container runs (the agent can be exec'd); a deleted pod (`null`) or one being
 * deleted is `lost`; a terminated main container is `oom` when the kernel killed it for memory, else
 * `crashed`.
 */
export function podVerdict(pod: V1Pod | null): PodVerdict {
  if (!pod) return { kind: 'ended', reason: 'lost', message: 'the sandbox pod was deleted' };
  const name = pod.metadata?.name ?? '';
  if (pod.metadata?.deletionTimestamp) {
    return { kind: 'ended', reason: 'lost', message: `the sandbox pod ${name} is being deleted` };
  }
  // Evicted (node pressure, the Eviction API, preemption): the platform took it away.
  const disrupted = pod.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  if (pod.status?.reason === 'Evicted' || disrupted) {
    const detail = pod.status?.message ?? 'disrupted';
    return { kind: 'ended', reason: 'lost', message: `the sandbox pod ${name} was evicted (${detail})` };
  }
  const main = pod.status?.containerStatuses?.find((s) => s.name === MAIN_CONTAINER);
  const terminated = main?.state?.terminated;
  const phase = pod.status?.phase;
  if (terminated || phase === 'Failed' || phase === 'Succeeded') {
    const reason = terminated?.reason === 'OOMKilled' ? 'oom' : 'crashed';
    const detail = terminated
      ? `exit code ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ''}${terminated.message ? `: ${terminated.message}` : ''}`
      : (pod.status?.message ?? pod.status?.reason ?? `phase ${phase}`);
    if (terminated?.reason === 'StartError') {
      return { kind: 'cannot_start', message: `the sandbox container could not start (${detail})` };
    }
    return { kind: 'ended', reason, message: `the sandbox pod ${name} stopped (${detail})` };
  }
  const problem =
    waitingProblem(pod.status?.initContainerStatuses) ?? waitingProblem(pod.status?.containerStatuses);
  if (problem) return { kind: 'cannot_start', message: `the sandbox pod ${name} cannot start: ${problem}` };
  if (phase === 'Running' && main?.state?.running) return { kind: 'running' };
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
  );
  return { kind: 'pending', note: unschedulable ? `unschedulable: ${unschedulable.message ?? ''}` : null };
}
