import type { V1Job, V1Pod, V1ResourceQuota } from '@kubernetes/client-node';
import type { OutputStream, ProjectPlacement, RunOutcome } from '../../core/index.js';
import type { RunObserver, RunRequest, Runtime } from '../runtime.js';
import { retryUntil, type RetryOptions } from './backoff.js';
import type { KubeApi } from './kube-client.js';
import { KubeError, toKubeError } from './kube-client.js';
import { LogCollector } from './log-collector.js';
import { createEvaluationObjects, deleteEvaluationObjects } from './objects.js';
import { buildEvaluationManifests, buildNamespaceManifests, kueueQueueOf } from './manifests.js';
import {
  createPollMonitor,
  createWatchMonitor,
  type ClusterMonitor,
  type MonitorListener,
} from './monitor.js';
import { PROJECT_SELECTOR, ProjectNamespaces, quotaExceededOutcome } from './namespaces.js';
import { EVALUATION_LABEL, evaluationLabel } from './names.js';
import { parseQuantity, quotaConcurrency } from './quota.js';
import type { KubernetesOptions } from './options.js';
import { KubeWatchTelemetry } from './telemetry.js';
import { assess, platformStages, viewJob, viewPod, type Assessment } from './status.js';
import { StageCollector } from './stage-frames.js';
import { isStaged } from './staged.js';
import { findLanguage } from '../../core/index.js';

interface Tracked {
  readonly request: RunRequest;
  readonly observer: RunObserver;
  readonly label: string;
  /** When the wait for a pod started: creation, or Kueue's admission of a suspended Job. */
  since: number;
  /** Created suspended for Kueue and not yet seen admitted: the observer hears `admitted` once it is. */
  awaitingAdmission: boolean;
  /** Bytes per stream already delivered before a restart; skipped when the log is re-read. */
  readonly skip: Record<OutputStream, number>;
  /** Aborted by `cancel`/`close`: stops retrying the creation of the evaluation's objects. */
  readonly creating: AbortController;
  /** The API bound to the namespace the evaluation runs in (its project's, or the runtime's). */
  api: KubeApi;
  /** A project's Job waiting for its pod (quota) since then; cleared once the pod exists. */
  quotaWaitStart?: number;
  job?: V1Job;
  pod?: V1Pod;
  jobDeleted: boolean;
  podDeleted: boolean;
  started: boolean;
  ending: boolean;
  collector?: LogCollector;
  stuckSince?: number;
  jobEndedAt?: number;
  podDeletedAt?: number;
  watchdog?: NodeJS.Timeout;
  /** A staged run's compile facts and test runs, from the runner's stage frames (stage-frames.ts). */
  readonly stages?: StageCollector;
}

export interface RuntimeDeps {
  readonly api: KubeApi;
  readonly options: KubernetesOptions;
  readonly clock: () => Date;
  readonly warn: (message: string) => void;
  readonly whenPersisted?: (evaluationId: string) => Promise<void>;
}

import type { LanguageCatalogue } from '../../core/index.js';
import { kubernetesLanguageCatalogue } from './languages.js';

/**
 * The Kubernetes runtime: one Job per evaluation, a monitor feeding Job/Pod changes into `status.ts`, a log
 * collector per pod. The Job is deleted only after `finished` returned, and `finished` is called only after
 * every log byte was delivered; the Job is deleted after `finished` returned (awaiting a returned promise and
 * the optional `whenPersisted` hook), so a deleted Job never loses a result.
 */
export class KubernetesRuntime implements Runtime {
  readonly name = 'kubernetes';
  get languages(): LanguageCatalogue {
    return kubernetesLanguageCatalogue(this.deps.options.images);
  }
  private readonly tracked = new Map<string, Tracked>();
  private readonly monitor: ClusterMonitor;
  private policyEnsured: Promise<void> | null = null;
  private quotas: V1ResourceQuota[] = [];
  private closed = false;
  /** Aborted by `close`: stops the shared NetworkPolicy retries. */
  private readonly closing = new AbortController();
  private readonly listener: MonitorListener;
  private readonly projects: ProjectNamespaces;
  /** Jobs and pods of every project, across namespaces; started by the first project evaluation. */
  private projectMonitor: ClusterMonitor | null = null;
  /** The namespaced API of each evaluation whose objects may still exist, for `cancel` and cleanup. */
  private readonly apis = new Map<string, KubeApi>();
  /** The monitors' counters and event lag, for `/metrics`. */
  readonly watchTelemetry: KubeWatchTelemetry;

  constructor(private readonly deps: RuntimeDeps) {
    this.projects = new ProjectNamespaces(deps.api);
    this.watchTelemetry = new KubeWatchTelemetry(
      () => ({
        namespace: this.monitor.stats(),
        ...(this.projectMonitor ? { projects: this.projectMonitor.stats() } : {}),
      }),
      deps.clock,
    );
    const listener: MonitorListener = {
      job: (job: V1Job, deleted: boolean) =>
        this.onObject(job.metadata?.labels, (t) => {
          t.job = job;
          t.jobDeleted = deleted;
        }),
      pod: (pod: V1Pod, deleted: boolean) =>
        this.onObject(pod.metadata?.labels, (t) => {
          t.pod = pod;
          t.podDeleted = deleted;
        }),
      watched: (kind, object) => this.watchTelemetry.watched(kind, object),
    };
    this.listener = listener;
    const create = deps.options.monitor === 'watch' ? createWatchMonitor : createPollMonitor;
    this.monitor = create(deps.api, deps.options, listener, deps.warn);
  }

  /**
   * One cluster-wide list/watch of Jobs and pods carrying the project label, rather than one per project
   * namespace: two connections however many projects there are, and no watch to start or stop per project.
   * It needs a ClusterRole (list/watch jobs and pods), which creating namespaces needs anyway.
   */
  private watchProjects(): ClusterMonitor {
    const all = this.deps.api.projects?.allNamespaces;
    if (!all) throw new KubeError('This Kubernetes API cannot watch project namespaces.', 400);
    this.projectMonitor ??= createWatchMonitor(
      all,
      this.deps.options,
      this.listener,
      this.deps.warn,
      PROJECT_SELECTOR,
    );
    return this.projectMonitor;
  }

  /** A project was deleted: its namespace goes, with whatever is left in it (its evaluations were cancelled). */
  async removeProject(project: ProjectPlacement): Promise<void> {
    const deadline = Date.now() + this.deps.options.cleanupRetrySeconds * 1000;
    await this.projects.remove(project, this.retryOptions(deadline, this.closing.signal));
  }

  /**
   * Reads the namespace's ResourceQuotas once (at start), for `suggestedConcurrency`. A cluster that does
   * not let us read them (403) or does not answer leaves the concurrency unbounded by quota.
   */
  async readQuotas(): Promise<void> {
    const retry = this.retryOptions(Date.now() + this.deps.options.requestTimeoutMs, this.closing.signal);
    try {
      this.quotas = await retryUntil('list ResourceQuotas', () => this.deps.api.listResourceQuotas(), retry);
    } catch (error) {
      this.deps.warn(`could not read the namespace's ResourceQuotas: ${toKubeError(error).message}`);
    }
  }

  /**
   * How many evaluations of `memoryMb` fit the namespace's ResourceQuotas at once (`count/pods`/`pods`, or
   * memory and CPU divided by one pod's request), or null when no quota bounds them.
   */
  suggestedConcurrency(memoryMb: number): number | null {
    const { cpuRequest, cpuLimit } = this.deps.options;
    return quotaConcurrency(this.quotas, {
      memoryBytes: memoryMb * 2 ** 20,
      cpuRequest: parseQuantity(cpuRequest) ?? 0,
      cpuLimit: parseQuantity(cpuLimit) ?? 0,
    });
  }

  /** Monitor counters (relists, reconnects, events) for metrics. */
  stats(): Record<string, unknown> {
    return this.monitor.stats();
  }

  /**
   * Creates the payload ConfigMaps and the Job, retrying API faults until the evaluation's own deadline
   * (`timeoutSeconds + startRetryMarginSeconds`): the names are deterministic, so a repeated create that
   * answers 409 adopts what an earlier attempt made and the program never runs twice. Rejects only at the
   * deadline or on a fault that no retry can fix (an invalid object, no permission).
   */
  async start(request: RunRequest, observer: RunObserver): Promise<void> {
    const manifests = buildEvaluationManifests(request, this.deps.options);
    const tracked = this.track(request, observer);
    const deadline =
      Date.now() + (request.limits.timeoutSeconds + this.deps.options.startRetryMarginSeconds) * 1000;
    const retry = this.retryOptions(deadline, tracked.creating.signal);
    let failure: unknown = null;
    try {
      void this.monitor.start();
      if (request.project) {
        void this.watchProjects().start();
        tracked.api = await this.projects.ensure(request.project, { ...retry, signal: this.closing.signal });
      } else await this.ensurePolicy(retry);
      this.apis.set(request.evaluationId, tracked.api);
      await createEvaluationObjects(tracked.api, manifests, retry);
      // A create answered 409 (an earlier attempt, or an earlier owner, made it): the monitor may have seen
      // that Job before it was tracked, and no change of it may come to say what it is now.
      this.fillKnown(tracked);
    } catch (error) {
      failure = error;
    }
    // Cancelled while a create was in flight (its answer may come after cancel's delete): what it made must
    // not run on. A closing runtime leaves it, as it leaves every Job, to be adopted.
    if (tracked.creating.signal.aborted) {
      if (!this.closed) await this.cleanup(request.evaluationId);
      return;
    }
    if (failure !== null) {
      this.untrack(tracked);
      await tracked.api.deleteConfigMaps(`${EVALUATION_LABEL}=${tracked.label}`).catch(() => undefined);
      this.apis.delete(request.evaluationId);
      throw toKubeError(failure);
    }
    this.refresh(tracked);
  }

  /** With `kueueQueue`, the Jobs outside projects are created suspended: Kueue admits them. */
  awaitsAdmission(evaluation: { readonly project?: string | null }): boolean {
    const inProject = evaluation.project !== undefined && evaluation.project !== null;
    return kueueQueueOf(inProject, this.deps.options) !== undefined;
  }

  async cancel(evaluationId: string): Promise<void> {
    const tracked = this.tracked.get(evaluationLabel(evaluationId));
    if (tracked) {
      this.untrack(tracked);
      tracked.collector?.stop();
    }
    await this.cleanup(evaluationId);
  }

  /**
   * Re-attaches to a Job after a restart. The pod log is re-read from its start; `delivered` (outside the
   * `Runtime` interface, optional) says how many bytes per stream the service already stored, so exactly
   * those are skipped and nothing is stored twice. Without it the whole output is delivered again.
   */
  async adopt(
    request: RunRequest,
    observer: RunObserver,
    delivered?: Readonly<Record<OutputStream, number>>,
  ): Promise<'adopted' | 'lost'> {
    await this.ready(request.project !== undefined);
    const label = evaluationLabel(request.evaluationId);
    if (!this.known(label).job) return 'lost';
    const tracked = this.track(request, observer, delivered);
    if (request.project) tracked.api = this.projects.apiFor(request.project.namespace);
    this.apis.set(request.evaluationId, tracked.api);
    this.fillKnown(tracked);
    this.refresh(tracked);
    return 'adopted';
  }

  /** The Job and pod of an evaluation label as the monitors last saw them. */
  private known(label: string): { job?: V1Job; pod?: V1Pod } {
    const monitors = [this.monitor, ...(this.projectMonitor ? [this.projectMonitor] : [])];
    const mine = (o: V1Job | V1Pod) => o.metadata?.labels?.[EVALUATION_LABEL] === label;
    const job = monitors.flatMap((m) => m.jobs()).find(mine);
    const pod = monitors.flatMap((m) => m.pods()).find(mine);
    return { ...(job ? { job } : {}), ...(pod ? { pod } : {}) };
  }

  private fillKnown(tracked: Tracked): void {
    const known = this.known(tracked.label);
    tracked.job ??= known.job;
    tracked.pod ??= known.pod;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    for (const tracked of this.tracked.values()) {
      clearTimeout(tracked.watchdog);
      tracked.creating.abort();
      tracked.collector?.stop();
    }
    this.tracked.clear();
    await this.monitor.stop();
    await this.projectMonitor?.stop();
    await this.deps.api.close();
  }

  private retryOptions(deadline: number, signal?: AbortSignal): RetryOptions {
    const { backoffInitialMs, backoffMaxMs, requestTimeoutMs } = this.deps.options;
    return {
      deadline,
      initialMs: backoffInitialMs,
      maxMs: backoffMaxMs,
      attemptTimeoutMs: requestTimeoutMs,
      warn: this.deps.warn,
      ...(signal ? { signal } : {}),
    };
  }

  /** The namespace's NetworkPolicy, once; a failed ensure is tried again by the next caller. */
  private ensurePolicy(retry: RetryOptions): Promise<void> {
    const policy = buildNamespaceManifests(this.deps.options)[0]!;
    this.policyEnsured ??= retryUntil(
      `ensure NetworkPolicy ${policy.metadata?.name}`,
      () => this.deps.api.ensureNetworkPolicy(policy),
      { ...retry, signal: this.closing.signal },
    ).catch((error: unknown) => {
      this.policyEnsured = null;
      throw toKubeError(error);
    });
    return this.policyEnsured;
  }

  /** For `adopt`: the policy and the monitor's first full list (and the projects' one), within `readyTimeoutMs`. */
  private ready(project = false): Promise<void> {
    const deadline = Date.now() + this.deps.options.readyTimeoutMs;
    // The monitor retries forever on its own; a caller must not wait forever for its first list.
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new KubeError('The Kubernetes API did not answer the first list in time.', 0)),
        this.deps.options.readyTimeoutMs,
      );
    });
    return Promise.race([
      Promise.all([
        this.ensurePolicy(this.retryOptions(deadline)),
        this.monitor.start(),
        project ? this.watchProjects().start() : undefined,
      ]),
      limit,
    ])
      .then(() => undefined)
      .finally(() => clearTimeout(timer));
  }

  private track(
    request: RunRequest,
    observer: RunObserver,
    delivered?: Readonly<Record<OutputStream, number>>,
  ): Tracked {
    const tracked: Tracked = {
      request,
      observer,
      skip: { stdout: delivered?.stdout ?? 0, stderr: delivered?.stderr ?? 0 },
      label: evaluationLabel(request.evaluationId),
      since: this.deps.clock().getTime(),
      awaitingAdmission: this.awaitsAdmission({ project: request.project?.id ?? null }),
      jobDeleted: false,
      podDeleted: false,
      started: false,
      ending: false,
      creating: new AbortController(),
      api: this.deps.api,
      ...stagesOf(request),
    };
    this.tracked.set(tracked.label, tracked);
    this.armWatchdog(tracked, this.deps.options.pendingTimeoutSeconds * 1000);
    return tracked;
  }

  private untrack(tracked: Tracked): void {
    clearTimeout(tracked.watchdog);
    tracked.creating.abort();
    if (this.tracked.get(tracked.label) === tracked) this.tracked.delete(tracked.label);
  }

  private armWatchdog(tracked: Tracked, ms: number): void {
    clearTimeout(tracked.watchdog);
    tracked.watchdog = setTimeout(() => this.refresh(tracked), ms);
    tracked.watchdog.unref();
  }

  private onObject(labels: Record<string, string> | undefined, update: (t: Tracked) => void): void {
    const label = labels?.[EVALUATION_LABEL];
    const tracked = label ? this.tracked.get(label) : undefined;
    if (!tracked) return;
    update(tracked);
    this.refresh(tracked);
  }

  private current(tracked: Tracked): Assessment {
    const now = this.deps.clock().getTime();
    const job = tracked.jobDeleted
      ? { kind: 'absent' as const }
      : tracked.job
        ? viewJob(tracked.job)
        : { kind: 'active' as const };
    const graceMs = this.deps.options.logGraceSeconds * 1000;
    if (job.kind === 'active') tracked.jobEndedAt = undefined;
    else if (tracked.jobEndedAt === undefined) {
      tracked.jobEndedAt = now;
      // If the pod's final status never arrives, decide from the Job once the grace period is over.
      this.armWatchdog(tracked, graceMs);
    }
    if (tracked.podDeleted && tracked.podDeletedAt === undefined) {
      tracked.podDeletedAt = now;
      // If the Job never says why its pod went away, decide without it once the grace period is over.
      if (job.kind === 'active') this.armWatchdog(tracked, graceMs);
    }
    return assess({
      job,
      pod: viewPod(tracked.pod),
      runnerExit: tracked.collector?.exit ?? null,
      podDeleted: tracked.podDeleted,
      podGoneSettled: tracked.podDeletedAt !== undefined && now - tracked.podDeletedAt >= graceMs,
      jobSettled: tracked.jobEndedAt !== undefined && now - tracked.jobEndedAt >= graceMs,
      now: new Date(now),
    });
  }

  /** Re-evaluates one evaluation after any change; idempotent. */
  private refresh(tracked: Tracked): void {
    if (tracked.ending || this.closed || this.tracked.get(tracked.label) !== tracked) return;
    const pod = tracked.pod;
    if (!tracked.collector && pod?.metadata?.name && pod.spec?.nodeName && !tracked.podDeleted) {
      tracked.collector = new LogCollector(
        tracked.api,
        pod.metadata.name,
        (stream, data) => {
          if (tracked.stages?.output(stream, data)) return;
          const skipped = Math.min(tracked.skip[stream], data.length);
          tracked.skip[stream] -= skipped;
          if (skipped < data.length) tracked.observer.output(stream, data.subarray(skipped));
        },
        {
          retryMs: this.deps.options.logRetryMs,
          graceMs: this.deps.options.logGraceSeconds * 1000,
          warn: this.deps.warn,
          ...(tracked.stages ? { stage: tracked.stages.frame.bind(tracked.stages) } : {}),
          // Stored in the run's serial chain, before the result; the Job stays until that is persisted.
          ...(tracked.observer.artifact
            ? { artifact: (file) => void tracked.observer.artifact!(file).catch(() => undefined) }
            : {}),
        },
      );
      tracked.collector.start();
    }
    const now = this.deps.clock().getTime();
    // Before `started`: the service records the admission (`queued` → `starting`) first.
    if (tracked.awaitingAdmission && admitted(tracked)) {
      tracked.awaitingAdmission = false;
      tracked.observer.admitted?.(new Date(now));
    }
    const next = this.current(tracked);
    switch (next.kind) {
      case 'wait':
        tracked.stuckSince = undefined;
        // Waiting for Kueue's admission is queueing, not a pod failing to start: the clock starts at admission.
        if (tracked.job?.spec?.suspend === true) {
          tracked.since = now;
          return this.armWatchdog(tracked, this.deps.options.pendingTimeoutSeconds * 1000);
        }
        if (tracked.request.project && !tracked.started && this.waitForQuota(tracked, now)) return;
        if (!tracked.started && now - tracked.since >= this.deps.options.pendingTimeoutSeconds * 1000) {
          const seconds = this.deps.options.pendingTimeoutSeconds;
          this.end(tracked, {
            kind: 'error',
            reason: 'infrastructure',
            message: `The pod did not start within ${seconds} s.`,
            at: new Date(now),
          });
        }
        return;
      case 'started':
        tracked.stuckSince = undefined;
        if (tracked.jobEndedAt === undefined) clearTimeout(tracked.watchdog);
        if (!tracked.started) {
          tracked.started = true;
          tracked.observer.started(next.at, platformStages(tracked.job, tracked.pod));
        }
        return;
      case 'stuck': {
        tracked.stuckSince ??= now;
        const grace =
          next.reason === 'unschedulable' ? this.deps.options.unschedulableGraceSeconds * 1000 : 0;
        const left = tracked.stuckSince + grace - now;
        if (left > 0) return this.armWatchdog(tracked, left);
        this.end(tracked, { kind: 'error', reason: next.reason, message: next.message, at: new Date(now) });
        return;
      }
      case 'ended':
        this.end(tracked, next.outcome);
        return;
    }
  }

  /**
   * A project's Job without a pod is waiting for its ResourceQuota (the Job controller retries the create as
   * quota frees): bounded by `quotaWaitSeconds`, then `error`/`quota_exceeded`. Once the pod exists the
   * pending timeout counts from then. True while it waits (or has just ended).
   */
  private waitForQuota(tracked: Tracked, now: number): boolean {
    if (tracked.pod) {
      if (tracked.quotaWaitStart !== undefined) {
        tracked.quotaWaitStart = undefined;
        tracked.since = now;
        this.armWatchdog(tracked, this.deps.options.pendingTimeoutSeconds * 1000);
      }
      return false;
    }
    tracked.quotaWaitStart ??= tracked.since;
    const limitMs = this.deps.options.quotaWaitSeconds * 1000;
    const waited = now - tracked.quotaWaitStart;
    if (waited < limitMs) this.armWatchdog(tracked, limitMs - waited);
    else this.end(tracked, quotaExceededOutcome(tracked.request.project!, waited, new Date(now)));
    return true;
  }

  /** Waits for the complete logs, reports the outcome, then deletes the Job. */
  private end(tracked: Tracked, first: RunOutcome): void {
    tracked.ending = true;
    clearTimeout(tracked.watchdog);
    void (async () => {
      let outcome = first;
      const view = viewPod(tracked.pod);
      // A killed compile init container: the main container never ran, there is no log to wait for.
      const initOnly = view.kind === 'terminated' && view.initOnly === true;
      const ran = !initOnly && (tracked.started || view.kind === 'terminated' || outcome.kind === 'exited');
      // A container that never started has no log to wait for (image pull, config error, unschedulable).
      let outputComplete = !ran;
      if (!ran) tracked.collector?.stop();
      else if (tracked.collector) {
        outputComplete = (await tracked.collector.finish()).complete;
        // The runner's exit frame (now read) is exact about the exit code, signal and its own timeout.
        const again = this.current(tracked);
        if (again.kind === 'ended' && outcome.kind === 'exited') outcome = again.outcome;
      }
      // A log never read, or read without the runner's exit frame, may miss the program's last output.
      if (outcome.kind === 'exited') outcome = { ...outcome, outputComplete };
      if (tracked.stages) outcome = tracked.stages.apply(outcome);
      outcome = { ...outcome, platform: platformStages(tracked.job, tracked.pod) };
      if (this.tracked.get(tracked.label) !== tracked || this.closed) return;
      this.untrack(tracked);
      // The Job holds the only copy of the output until the service has persisted the result.
      await tracked.observer.finished(outcome);
      if (this.deps.whenPersisted) await this.deps.whenPersisted(tracked.request.evaluationId);
      await this.cleanup(tracked.request.evaluationId);
    })().catch((error: unknown) =>
      this.deps.warn(`ending ${tracked.request.evaluationId}: ${String(error)}`),
    );
  }

  /** Deletes the Job (its pod with it) and the ConfigMaps, retrying API faults for `cleanupRetrySeconds`. */
  private async cleanup(evaluationId: string): Promise<void> {
    const deadline = Date.now() + this.deps.options.cleanupRetrySeconds * 1000;
    const retry = this.retryOptions(deadline, this.closing.signal);
    const api = this.apis.get(evaluationId) ?? this.deps.api;
    try {
      await deleteEvaluationObjects(api, evaluationId, retry);
      this.apis.delete(evaluationId);
    } catch (error) {
      // The Job's ttlSecondsAfterFinished is the safety net when this delete fails.
      this.deps.warn(`cleanup of ${evaluationId} failed: ${toKubeError(error).message}`);
    }
  }
}

/** Kueue admitted the Job (unsuspended it), or a pod exists, which only an admitted Job makes. */
function admitted(tracked: Tracked): boolean {
  return (tracked.job !== undefined && tracked.job.spec?.suspend !== true) || tracked.pod !== undefined;
}

/** A staged run collects its compile facts and test runs from the log; a plain run has nothing to collect. */
function stagesOf(request: RunRequest): { stages?: StageCollector } {
  const language = findLanguage(request.language);
  if (!language || !isStaged(request, language)) return {};
  return {
    stages: new StageCollector(language.compile !== undefined, (request.grading?.tests.length ?? 0) > 0),
  };
}
