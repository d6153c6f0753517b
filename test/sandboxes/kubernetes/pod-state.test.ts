import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podVerdict } from '../../../src/runtime/kubernetes/sandboxes/pod-state.js';

const pod = (status: V1Pod['status'], metadata: V1Pod['metadata'] = {}): V1Pod => ({
  metadata: { name: 'crucible-sbx-a', ...metadata },
  status,
});
const main = (state: object) => ({
  name: 'main',
  image: 'i',
  imageID: '',
  ready: false,
  restartCount: 0,
  state,
});

describe('what a sandbox pod state means (podVerdict)', () => {
  it('runs once the main container runs; waits while scheduling, pulling or initializing', () => {
    expect(podVerdict(pod({ phase: 'Running', containerStatuses: [main({ running: {} })] }))).toEqual({
      kind: 'running',
    });
    expect(podVerdict(pod({ phase: 'Pending' }))).toEqual({ kind: 'pending', note: null });
    const unschedulable = pod({
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/3 nodes: Insufficient memory',
        },
      ],
    });
    expect(podVerdict(unschedulable)).toEqual({
      kind: 'pending',
      note: 'unschedulable: 0/3 nodes: Insufficient memory',
    });
    expect(
      podVerdict(
        pod({ phase: 'Pending', containerStatuses: [main({ waiting: { reason: 'ContainerCreating' } })] }),
      ).kind,
    ).toBe('pending');
  });

  it('never starts: image pull errors, config errors (init container too), a command that cannot start', () => {
    const pull = pod({
      phase: 'Pending',
      containerStatuses: [main({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off' } })],
    });
    expect(podVerdict(pull)).toEqual({
      kind: 'cannot_start',
      message: 'the sandbox pod crucible-sbx-a cannot start: container main: ImagePullBackOff (Back-off)',
    });
    const init = pod({
      phase: 'Pending',
      initContainerStatuses: [{ ...main({ waiting: { reason: 'ErrImagePull' } }), name: 'runner-setup' }],
    });
    expect(podVerdict(init)).toMatchObject({
      kind: 'cannot_start',
      message: expect.stringMatching(/runner-setup: ErrImagePull/),
    });
    const start = pod({
      phase: 'Failed',
      containerStatuses: [main({ terminated: { exitCode: 128, reason: 'StartError' } })],
    });
    expect(podVerdict(start).kind).toBe('cannot_start');
  });

  it('ends: OOM-killed PID 1 is oom, any other stop crashed, evicted, deleted or deleting is lost', () => {
    const oom = pod({
      phase: 'Failed',
      containerStatuses: [main({ terminated: { exitCode: 137, reason: 'OOMKilled' } })],
    });
    expect(podVerdict(oom)).toMatchObject({ kind: 'ended', reason: 'oom' });
    const exited = pod({
      phase: 'Succeeded',
      containerStatuses: [main({ terminated: { exitCode: 0, reason: 'Completed' } })],
    });
    expect(podVerdict(exited)).toMatchObject({
      kind: 'ended',
      reason: 'crashed',
      message: expect.stringMatching(/exit code 0, Completed/),
    });
    expect(
      podVerdict(pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on memory.' })),
    ).toMatchObject({
      kind: 'ended',
      reason: 'lost',
      message: expect.stringMatching(/evicted \(The node was low on memory.\)/),
    });
    expect(podVerdict(null)).toMatchObject({ kind: 'ended', reason: 'lost' });
    expect(podVerdict(pod({ phase: 'Running' }, { deletionTimestamp: new Date() }))).toMatchObject({
      kind: 'ended',
      reason: 'lost',
    });
  });
});
