import { describe, expect, it } from 'vitest';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { assess, toDate, viewJob, viewPod, type AssessInput } from '../../src/runtime/kubernetes/status.js';

const now = new Date('2026-01-01T00:00:10Z');
const base: Omit<AssessInput, 'job' | 'pod'> = {
  runnerExit: null,
  podDeleted: false,
  podGoneSettled: false,
  jobSettled: false,
  now,
};

function pod(main: Record<string, unknown>, extra: Record<string, unknown> = {}): V1Pod {
  return {
    status: {
      containerStatuses: [
        { name: 'main', image: 'i', imageID: '', ready: false, restartCount: 0, state: main },
      ],
      ...extra,
    },
  } as V1Pod;
}
function job(...conditions: [string, string][]): V1Job {
  return {
    status: { conditions: conditions.map(([type, reason]) => ({ type, reason, status: 'True' })) },
  } as V1Job;
}
const terminated = (exitCode: number, reason: string) =>
  pod({
    terminated: {
      exitCode,
      reason,
      startedAt: '2026-01-01T00:00:01Z',
      finishedAt: new Date('2026-01-01T00:00:02Z'),
    },
  });

describe('status mapping', () => {
  it('normalises string and Date timestamps', () => {
    expect(toDate('2026-01-01T00:00:01Z')?.getTime()).toBe(
      toDate(new Date('2026-01-01T00:00:01Z'))?.getTime(),
    );
  });

  it('exit 0 ends at once, from the terminated state times (sub-second pods)', () => {
    const a = assess({ ...base, job: viewJob(job()), pod: viewPod(terminated(0, 'Completed')) });
    expect(a).toMatchObject({ kind: 'ended', outcome: { kind: 'exited', exitCode: 0, timedOut: false } });
    if (a.kind === 'ended' && a.outcome.kind === 'exited')
      expect(a.outcome.finishedAt.toISOString()).toBe('2026-01-01T00:00:02.000Z');
  });

  it('a non-zero exit waits for the Job, which may say DeadlineExceeded', () => {
    expect(assess({ ...base, job: viewJob(job()), pod: viewPod(terminated(137, 'Error')) }).kind).toBe(
      'wait',
    );
    const timedOut = assess({
      ...base,
      job: viewJob(job(['FailureTarget', 'DeadlineExceeded'])),
      pod: viewPod(terminated(137, 'Error')),
    });
    expect(timedOut).toMatchObject({ kind: 'ended', outcome: { timedOut: true } });
    const failed = assess({
      ...base,
      job: viewJob(job(['FailureTarget', 'BackoffLimitExceeded'])),
      pod: viewPod(terminated(2, 'Error')),
    });
    expect(failed).toMatchObject({ kind: 'ended', outcome: { exitCode: 2, timedOut: false } });
  });

  it('OOMKilled is oom', () => {
    const a = assess({
      ...base,
      job: viewJob(job(['Failed', 'BackoffLimitExceeded'])),
      pod: viewPod(terminated(137, 'OOMKilled')),
    });
    expect(a).toMatchObject({ kind: 'ended', outcome: { oomKilled: true, exitCode: 137 } });
  });

  it('stuck Pending reasons', () => {
    const waiting = (reason: string) => viewPod(pod({ waiting: { reason } }));
    expect(assess({ ...base, job: viewJob(job()), pod: waiting('ImagePullBackOff') })).toMatchObject({
      kind: 'stuck',
      reason: 'image_pull',
    });
    expect(assess({ ...base, job: viewJob(job()), pod: waiting('InvalidImageName') })).toMatchObject({
      reason: 'image_pull',
    });
    expect(
      assess({ ...base, job: viewJob(job()), pod: waiting('CreateContainerConfigError') }),
    ).toMatchObject({ reason: 'config_error' });
    const unschedulable = viewPod({
      status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] },
    } as V1Pod);
    expect(assess({ ...base, job: viewJob(job()), pod: unschedulable })).toMatchObject({
      kind: 'stuck',
      reason: 'unschedulable',
    });
  });

  it('disruption and vanished pods are infrastructure errors', () => {
    const evicted = viewPod(
      pod(
        { running: { startedAt: now } },
        { conditions: [{ type: 'DisruptionTarget', status: 'True', message: 'evicted' }] },
      ),
    );
    expect(assess({ ...base, job: viewJob(job()), pod: evicted })).toMatchObject({
      outcome: { kind: 'error', reason: 'infrastructure' },
    });
    const running = viewPod(pod({ running: { startedAt: now } }));
    const gone = { ...base, pod: running, podDeleted: true };
    // The Job may still say why (its deadline deletes the pod, on another watch): wait for it, a while.
    expect(assess({ ...gone, job: viewJob(job()) }).kind).toBe('wait');
    expect(assess({ ...gone, job: viewJob(job()), podGoneSettled: true })).toMatchObject({
      outcome: { reason: 'infrastructure' },
    });
    expect(assess({ ...gone, job: viewJob(job(['FailureTarget', 'DeadlineExceeded'])) })).toMatchObject({
      outcome: { kind: 'exited', timedOut: true },
    });
  });

  it('accepts jumps seen only after a relist (pod gone, Job Complete)', () => {
    const a = assess({
      ...base,
      job: viewJob(job(['Complete', 'CompletionsReached'])),
      pod: { kind: 'absent' },
      podDeleted: true,
    });
    expect(a).toMatchObject({ kind: 'ended', outcome: { kind: 'exited', exitCode: 0 } });
  });

  it('the runner exit frame is exact about signal and its own timeout', () => {
    const a = assess({
      ...base,
      runnerExit: { exitCode: null, signal: 'SIGKILL', timedOut: true },
      job: viewJob(job()),
      pod: viewPod(terminated(137, 'Error')),
    });
    expect(a).toMatchObject({
      kind: 'ended',
      outcome: { timedOut: true, signal: 'SIGKILL', exitCode: null },
    });
  });

  it('a container that could not start is the platform failing (container_start_failed), not exit 128', () => {
    const message =
      'failed to create containerd task: exec: "/crucible/bin/crucible-runner": stat /crucible/bin/crucible-runner: no such file or directory: unknown';
    for (const reason of ['StartError', 'ContainerCannotRun']) {
      const a = assess({
        ...base,
        job: viewJob(job(['Failed', 'BackoffLimitExceeded'])),
        pod: viewPod(pod({ terminated: { exitCode: 128, reason, message } })),
      });
      expect(a).toMatchObject({
        kind: 'ended',
        outcome: { kind: 'error', reason: 'container_start_failed' },
      });
      if (a.kind === 'ended' && a.outcome.kind === 'error') {
        expect(a.outcome.message).toContain(reason);
        expect(a.outcome.message).toContain('stat /crucible/bin/crucible-runner: no such file or directory');
      }
    }
    const waiting = viewPod(pod({ waiting: { reason: 'RunContainerError', message } }));
    expect(assess({ ...base, job: viewJob(job()), pod: waiting })).toMatchObject({
      kind: 'stuck',
      reason: 'container_start_failed',
    });
  });
});
