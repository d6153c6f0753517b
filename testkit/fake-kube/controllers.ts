import { admitPod } from './namespaces.js';
import { StoreError, type KObject, type ObjectStore, type StoredEvent } from './store.js';

const TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';

export interface ControllerFaults {
  /** Delay before the scheduler binds a pod. */
  schedulingDelayMs: number;
  /** The scheduler finds no node: PodScheduled=False, reason Unschedulable. */
  unschedulable: boolean;
  /** ResourceQuota `pods`: at most this many non-terminal pods in the namespace (null: no quota). */
  podQuota: number | null;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * The job controller (pods for Jobs, conditions in the 1.31+ order, deadlines, the job-tracking finalizer,
 * TTL), the scheduler, and the garbage collector's cascade for deleted Jobs.
 */
export class FakeControllers {
  readonly faults: ControllerFaults = { schedulingDelayMs: 0, unschedulable: false, podQuota: null };
  quotaRejections = 0;
  /** The 403 message of the last pod creation refused by a ResourceQuota object (`FailedCreate` event's). */
  lastQuotaRejection: string | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Jobs (by uid) whose pod was created: a Job starts once, when created unsuspended or later resumed. */
  private readonly startedJobs = new Set<string>();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly store: ObjectStore) {}

  start(): void {
    this.unsubscribe = this.store.subscribe((event) => this.onEvent(event));
  }

  stop(): void {
    this.unsubscribe?.();
    this.timers.forEach(clearTimeout);
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  /** Cascade for a deleted Job: Background/Foreground delete its pods; no policy orphans them (Job default). */
  jobDeleted(job: KObject, propagationPolicy: string | null): void {
    const namespace = job.metadata.namespace ?? '';
    for (const pod of this.store.list('pods', namespace)) {
      if (!pod.metadata.ownerReferences?.some((o) => o.uid === job.metadata.uid)) continue;
      if (propagationPolicy === 'Background' || propagationPolicy === 'Foreground') {
        this.store.delete('pods', namespace, pod.metadata.name);
      } else {
        this.store.update('pods', namespace, pod.metadata.name, (p) => {
          p.metadata.ownerReferences = [];
        });
      }
    }
  }

  private onEvent(event: StoredEvent): void {
    const object = event.object;
    if (event.resource === 'jobs' && event.type !== 'DELETED') this.jobChanged(object);
    if (event.resource !== 'pods' || event.type === 'DELETED') return;
    if (event.type === 'ADDED' && !object.spec?.['nodeName']) this.schedule(object);
    this.podChanged(object);
  }

  /**
   * A Job runs once it exists and is not suspended (`spec.suspend`, as Kueue creates them): a suspended Job
   * gets the `Suspended` condition and no pod until someone (Kueue) sets `suspend: false`.
   */
  private jobChanged(job: KObject): void {
    const uid = job.metadata.uid ?? '';
    if (this.startedJobs.has(uid)) return;
    const namespace = job.metadata.namespace ?? '';
    if (job.spec?.['suspend'] === true) {
      const suspended = (job.status?.['conditions'] as Condition[] | undefined)?.some(
        (c) => c.type === 'Suspended' && c.status === 'True',
      );
      if (suspended) return;
      this.store.update('jobs', namespace, job.metadata.name, (j) => {
        j.status = {
          conditions: [
            {
              type: 'Suspended',
              status: 'True',
              reason: 'JobSuspended',
              message: 'Job suspended',
              lastProbeTime: now(),
              lastTransitionTime: now(),
            },
          ],
        };
      });
      return;
    }
    this.startedJobs.add(uid);
    this.jobAdded(job);
  }

  private jobAdded(job: KObject): void {
    const namespace = job.metadata.namespace ?? '';
    const spec = job.spec as {
      template: { metadata?: KObject['metadata']; spec: Record<string, unknown> };
      activeDeadlineSeconds?: number;
    };
    this.store.update('jobs', namespace, job.metadata.name, (j) => {
      j.status = { startTime: now(), active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} };
    });
    const labels = {
      ...(spec.template.metadata?.labels ?? {}),
      'batch.kubernetes.io/job-name': job.metadata.name,
      'job-name': job.metadata.name,
      'batch.kubernetes.io/controller-uid': job.metadata.uid ?? '',
      'controller-uid': job.metadata.uid ?? '',
    };
    const pod: KObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: '',
        generateName: `${job.metadata.name}-`,
        labels,
        annotations: spec.template.metadata?.annotations ?? {},
        finalizers: [TRACKING_FINALIZER],
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: job.metadata.name,
            uid: job.metadata.uid ?? '',
            controller: true,
          },
        ],
      },
      spec: JSON.parse(JSON.stringify(spec.template.spec)) as Record<string, unknown>,
      status: { phase: 'Pending', qosClass: 'Guaranteed' },
    };
    this.createPod(namespace, job.metadata.name, job.metadata.uid ?? '', pod);
    if (spec.activeDeadlineSeconds) {
      this.later(spec.activeDeadlineSeconds * 1000, () => this.deadline(namespace, job.metadata.name));
    }
  }

  /**
   * ResourceQuota admission: while the namespace is at its pod quota the create is refused (403 "exceeded
   * quota") and the job controller tries again later, as the real one does with backoff.
   */
  private createPod(namespace: string, jobName: string, jobUid: string, pod: KObject): void {
    const job = this.store.get('jobs', namespace, jobName);
    if (!job || job.metadata.uid !== jobUid || this.terminal(job)) return;
    const quota = this.faults.podQuota;
    const inUse = this.store
      .list('pods', namespace)
      .filter((p) => p.status?.['phase'] !== 'Succeeded' && p.status?.['phase'] !== 'Failed').length;
    const retry = () => {
      this.quotaRejections += 1;
      this.later(50, () => this.createPod(namespace, jobName, jobUid, pod));
    };
    if (quota !== null && inUse >= quota) return retry();
    try {
      // The controller's create goes through the same quota admission as an API request.
      admitPod(this.store, namespace, pod);
    } catch (error) {
      if (error instanceof StoreError && error.code === 403) {
        this.lastQuotaRejection = error.message;
        return retry();
      }
      throw error;
    }
    this.store.create('pods', namespace, pod);
  }

  private conditions(job: KObject): Condition[] {
    return (job.status?.['conditions'] ?? []) as Condition[];
  }

  private terminal(job: KObject): boolean {
    return this.conditions(job).some((c) =>
      ['Complete', 'Failed', 'FailureTarget', 'SuccessCriteriaMet'].includes(c.type),
    );
  }

  private addCondition(
    namespace: string,
    name: string,
    type: string,
    reason: string,
    message: string,
    extra: Record<string, unknown> = {},
  ): void {
    this.store.update('jobs', namespace, name, (j) => {
      j.status ??= {};
      const time = now();
      j.status['conditions'] = [
        ...this.conditions(j),
        { type, status: 'True', reason, message, lastProbeTime: time, lastTransitionTime: time },
      ];
      Object.assign(j.status, extra);
    });
  }

  private deadline(namespace: string, name: string): void {
    const job = this.store.get('jobs', namespace, name);
    if (!job || this.terminal(job)) return;
    this.addCondition(
      namespace,
      name,
      'FailureTarget',
      'DeadlineExceeded',
      'Job was active longer than specified deadline',
    );
    for (const pod of this.store.list('pods', namespace)) {
      if (pod.metadata.ownerReferences?.some((o) => o.uid === job.metadata.uid))
        this.store.delete('pods', namespace, pod.metadata.name);
    }
  }

  private schedule(pod: KObject): void {
    const namespace = pod.metadata.namespace ?? '';
    this.later(this.faults.schedulingDelayMs, () => {
      const time = now();
      this.store.update('pods', namespace, pod.metadata.name, (p) => {
        p.status ??= {};
        if (this.faults.unschedulable) {
          p.status['conditions'] = [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: '0/1 nodes are available: 1 Insufficient memory.',
              lastTransitionTime: time,
            },
          ];
          return;
        }
        p.spec ??= {};
        p.spec['nodeName'] = 'fake-node-1';
        p.status['conditions'] = [{ type: 'PodScheduled', status: 'True', lastTransitionTime: time }];
      });
    });
  }

  /** Counts a finished (or deleted, never-run) pod into its Job, then releases the finalizer. */
  private podChanged(pod: KObject): void {
    const namespace = pod.metadata.namespace ?? '';
    const phase = pod.status?.['phase'];
    const finished = phase === 'Succeeded' || phase === 'Failed';
    const abandoned = Boolean(pod.metadata.deletionTimestamp) && !pod.spec?.['nodeName'];
    if (!(finished || abandoned) || !pod.metadata.finalizers?.includes(TRACKING_FINALIZER)) return;
    const owner = pod.metadata.ownerReferences?.[0];
    const job = owner ? this.store.get('jobs', namespace, owner.name) : undefined;
    if (job && job.metadata.uid === owner?.uid) {
      const target = this.conditions(job).find((c) => c.type === 'FailureTarget');
      if (target) {
        this.addCondition(
          namespace,
          job.metadata.name,
          'Failed',
          target.reason ?? 'Failed',
          target.message ?? '',
          { active: 0, failed: 1 },
        );
      } else if (!this.terminal(job)) {
        if (phase === 'Succeeded') {
          this.addCondition(
            namespace,
            job.metadata.name,
            'SuccessCriteriaMet',
            'CompletionsReached',
            'Reached expected number of succeeded pods',
          );
          this.addCondition(
            namespace,
            job.metadata.name,
            'Complete',
            'CompletionsReached',
            'Reached expected number of succeeded pods',
            {
              active: 0,
              succeeded: 1,
              completionTime: now(),
            },
          );
        } else {
          this.addCondition(
            namespace,
            job.metadata.name,
            'FailureTarget',
            'BackoffLimitExceeded',
            'Job has reached the specified backoff limit',
          );
          this.addCondition(
            namespace,
            job.metadata.name,
            'Failed',
            'BackoffLimitExceeded',
            'Job has reached the specified backoff limit',
            {
              active: 0,
              failed: 1,
            },
          );
        }
        const ttl = (job.spec as { ttlSecondsAfterFinished?: number }).ttlSecondsAfterFinished;
        if (ttl !== undefined) {
          this.later(ttl * 1000, () => {
            const gone = this.store.delete('jobs', namespace, job.metadata.name);
            if (gone) this.jobDeleted(gone, 'Background');
          });
        }
      }
    }
    this.store.update('pods', namespace, pod.metadata.name, (p) => {
      p.metadata.finalizers = (p.metadata.finalizers ?? []).filter((f) => f !== TRACKING_FINALIZER);
    });
  }
}
