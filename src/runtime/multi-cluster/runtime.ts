import type { V1ResourceQuota } from '@kubernetes/client-node';
import type { PlatformErrorOutcome, ProjectPlacement } from '../../core/index.js';
import { evaluationLabel } from '../kubernetes/names.js';
import { quotaConcurrency, type PodFootprint } from '../kubernetes/quota.js';
import { mergeWatchTelemetry } from '../kubernetes/telemetry.js';
import type {
  ClusterInfo,
  DeliveredBytes,
  RunObserver,
  RunRequest,
  Runtime,
  WatchTelemetry,
} from '../runtime.js';
import type { GuardedApi } from './guarded-api.js';
import { ClusterHealth, type HealthOptions } from './health.js';
import { CLUSTER_LABEL, place, type ClusterView } from './placement.js';
import { PendingAdoptions } from './pending-adoptions.js';

/** How long `close` waits for one cluster's runtime (its calls to a hung API may not end for minutes). */
const CLOSE_WAIT_MS = 5000;

/** One cluster as the multi-cluster runtime is given it. */
export interface ClusterSpec {
  readonly name: string;
  readonly runtime: Runtime;
  /** The cluster's API as its runtime uses it; without one, a start is never moved (tests of placement). */
  readonly guard?: GuardedApi;
  /** The readiness probe: the namespace's ResourceQuotas. */
  readonly probe: () => Promise<V1ResourceQuota[]>;
  /** One pod's CPU request and limit, for the quota arithmetic (memory comes from each evaluation). */
  readonly cpu: Omit<PodFootprint, 'memoryBytes'>;
}

export interface MultiClusterOptions extends HealthOptions {
  /** Memory of the default evaluation, for the capacity `GET /v1/clusters` shows. */
  readonly defaultMemoryMb: number;
  readonly warn: (message: string) => void;
  readonly clock?: () => Date;
}

interface Member extends ClusterSpec {
  readonly health: ClusterHealth;
  /** Evaluations placed here and not finished, by id. */
  readonly placed: Map<string, Placed>;
  /** Runs ended as `cluster_unreachable` here: their Jobs are deleted once the cluster answers again. */
  readonly givenUp: Set<string>;
}

interface Placed {
  readonly request: RunRequest;
  readonly observer: RunObserver;
  ended: boolean;
  /** Resolves when this placement ended here without its runtime (the cluster was lost). */
  readonly lost: Promise<'started'>;
  markLost(): void;
}

/**
 * `Runtime` over several Kubernetes clusters, so the service does not know there are several. Each cluster
 * has its own `KubernetesRuntime`; this places new runs (`placement.ts`), watches each cluster's health
 * (`health.ts`), moves a start off a cluster that went down only when the Job provably never reached it
 * (`guarded-api.ts`), and ends what ran on a cluster unreachable for `lostAfterMs` as `error` /
 * `cluster_unreachable`. A cluster that comes back within the bound needs nothing: its runtime's watches
 * relist and its evaluations carry on where they were.
 *
 * Adopt after a restart asks every cluster (a Job exists in one only); see `pending-adoptions.ts` for runs
 * whose cluster is down at that moment.
 */
export class MultiClusterRuntime implements Runtime {
  readonly name = 'kubernetes';
  readonly #members: Member[];
  readonly #options: MultiClusterOptions;
  readonly #clock: () => Date;
  readonly #pending: PendingAdoptions;
  #turn = 0;
  /** Woken whenever a cluster's health changes, for starts waiting for a healthy cluster. */
  #healthChanged: (() => void)[] = [];
  /** Every cluster's watch counters and event lag for `/metrics`, kinds prefixed by the cluster's name. */
  readonly watchTelemetry: WatchTelemetry | undefined;

  constructor(specs: readonly ClusterSpec[], options: MultiClusterOptions) {
    if (new Set(specs.map((s) => s.name)).size !== specs.length) throw new Error('cluster names must differ');
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
    this.#pending = new PendingAdoptions({
      adoptOn: (name, request, observer, delivered) =>
        this.#adoptOn(this.#member(name)!, request, observer, delivered),
      lostOutcome: () =>
        this.#lostOutcome((seconds) => `the cluster that ran it did not answer for ${seconds} s`),
      now: this.#clock,
    });
    this.#members = specs.map((spec) => {
      const member: Member = {
        ...spec,
        placed: new Map(),
        givenUp: new Set(),
        health: new ClusterHealth(
          spec.probe,
          options,
          {
            unreachable: () => this.#onUnreachable(member),
            recovered: () => this.#onRecovered(member),
            lost: () => this.#onLost(member),
          },
          this.#clock,
        ),
      };
      return member;
    });
    this.watchTelemetry = mergeWatchTelemetry(this.#members.map((m) => [m.name, m.runtime.watchTelemetry]));
  }

  /** Probes every cluster once (an unreachable one is started as such), then keeps probing. */
  async startProbing(): Promise<void> {
    await Promise.all(this.#members.map((m) => m.health.start()));
  }

  /** An API call to this cluster failed without an answer: probe it now. */
  suspect(name: string): void {
    this.#member(name)?.health.suspect();
  }

  async start(request: RunRequest, observer: RunObserver): Promise<void> {
    const excluded = new Set<string>();
    const deadline = Date.now() + this.#options.lostAfterMs;
    for (;;) {
      const member = await this.#choose(request, excluded, deadline);
      if (!member) {
        const pinned = request.labels[CLUSTER_LABEL];
        if (pinned !== undefined && !this.#member(pinned)) {
          throw new Error(`no cluster named "${pinned}" (label ${CLUSTER_LABEL})`);
        }
        await observer.finished(this.#lostOutcome((seconds) => `no cluster answered for ${seconds} s`));
        return;
      }
      if ((await this.#startOn(member, request, observer)) === 'started') return;
      this.#options.warn(
        `${request.evaluationId}: cluster ${member.name} went down before its Job was created; placing it elsewhere`,
      );
      excluded.add(member.name);
    }
  }

  /** A project's namespace may exist on every cluster its evaluations ran on: it goes from each. */
  async removeProject(project: ProjectPlacement): Promise<void> {
    await Promise.all(this.#members.map((member) => member.runtime.removeProject?.(project)));
  }

  /** Every cluster has the same options (a Kueue queue or none): the first one answers for all. */
  awaitsAdmission(evaluation: { readonly project?: string | null }): boolean {
    return this.#members[0]?.runtime.awaitsAdmission?.(evaluation) ?? false;
  }

  async cancel(evaluationId: string): Promise<void> {
    this.#pending.drop(evaluationId);
    const member = this.#members.find((m) => m.placed.has(evaluationId));
    if (member) await member.runtime.cancel(evaluationId);
  }

  /**
   * Asks every cluster (only the pinned one when pinned): the one holding the Job adopts it. When none does
   * but some cluster could not answer, the run waits for those (re-adopted when one answers, `lost` once all
   * answered without it, `cluster_unreachable` after the bound).
   */
  async adopt(
    request: RunRequest,
    observer: RunObserver,
    delivered?: DeliveredBytes,
  ): Promise<'adopted' | 'lost'> {
    const pinned = request.labels[CLUSTER_LABEL];
    const candidates = this.#members.filter((m) => pinned === undefined || m.name === pinned);
    const answers = await Promise.all(
      candidates.map(async (m) => {
        if (!m.health.healthy) return 'unknown' as const;
        return this.#adoptOn(m, request, observer, delivered).catch(() => 'unknown' as const);
      }),
    );
    if (answers.includes('adopted')) return 'adopted';
    const unknown = candidates.filter((_, i) => answers[i] === 'unknown').map((m) => m.name);
    if (unknown.length === 0) return 'lost';
    this.#pending.add(request, observer, delivered, unknown);
    return 'adopted';
  }

  /**
   * Closes every cluster's runtime. One whose API hangs may wait on its calls in flight for minutes: it is
   * left after `CLOSE_WAIT_MS` (its Jobs run on regardless and are re-adopted), so one bad cluster cannot
   * hold up a shutdown.
   */
  async close(): Promise<void> {
    for (const member of this.#members) member.health.stop();
    this.#pending.clear();
    await Promise.all(
      this.#members.map(async (m) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>(
          (resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WAIT_MS)),
        );
        const closed = m.runtime.close().then(() => 'closed' as const);
        closed.catch(() => undefined);
        try {
          if ((await Promise.race([closed, late])) === 'late') {
            this.#options.warn(
              `cluster ${m.name} did not close within ${CLOSE_WAIT_MS / 1000} s; left behind`,
            );
          }
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  /** The sum over clusters; null when any cluster sets no bound. */
  suggestedConcurrency(memoryMb: number): number | null {
    let sum = 0;
    for (const member of this.#members) {
      const fit = this.#capacity(member, memoryMb);
      if (fit === null) return null;
      sum += fit;
    }
    return sum;
  }

  clusters(): ClusterInfo[] {
    return this.#members.map((m) => ({
      name: m.name,
      health: m.health.healthy ? 'healthy' : 'unreachable',
      unreachableSince: m.health.unreachableSince?.toISOString() ?? null,
      running: m.placed.size + this.#pending.countOn(m.name),
      capacity: this.#capacity(m, this.#options.defaultMemoryMb),
      lastError: m.health.lastError,
    }));
  }

  #member(name: string): Member | undefined {
    return this.#members.find((m) => m.name === name);
  }

  #capacity(member: Member, memoryMb: number): number | null {
    const quotas = member.health.quotas;
    return quotas.length === 0
      ? null
      : quotaConcurrency(quotas, { ...member.cpu, memoryBytes: memoryMb * 2 ** 20 });
  }

  /** A cluster by the policy; waits for one to become healthy until `deadline`; null when none comes. */
  async #choose(
    request: RunRequest,
    excluded: ReadonlySet<string>,
    deadline: number,
  ): Promise<Member | null> {
    for (;;) {
      const views: ClusterView[] = this.#members.map((m) => ({
        name: m.name,
        healthy: m.health.healthy,
        capacity: this.#capacity(m, request.limits.memoryMb),
        running: m.placed.size,
      }));
      const placement = place(views, request.labels, this.#turn, excluded);
      if (placement.kind === 'cluster') {
        this.#turn += 1;
        return this.#member(placement.name)!;
      }
      const left = deadline - Date.now();
      if (placement.reason === 'unknown_cluster' || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#healthChanged = this.#healthChanged.filter((f) => f !== wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#healthChanged.push(wake);
      });
    }
  }

  /**
   * Starts on one cluster. `moved`: the cluster went down before any create of the Job can have reached
   * it, the start there was withdrawn, and the caller may place it elsewhere.
   */
  async #startOn(member: Member, request: RunRequest, observer: RunObserver): Promise<'started' | 'moved'> {
    const id = request.evaluationId;
    const label = evaluationLabel(id);
    const placed = this.#place(member, request, observer);
    // A pinned evaluation has nowhere else to go: it waits for its cluster (or the bound).
    const movable = request.labels[CLUSTER_LABEL] === undefined && member.guard !== undefined;
    let wentDown = (): void => undefined;
    const down = new Promise<'down'>((resolve) => (wentDown = () => resolve('down')));
    const check = () => (!member.health.healthy ? wentDown() : undefined);
    this.#healthChanged.push(check);
    const started = member.runtime
      .start(request, this.#observerFor(member, placed))
      .then(() => 'started' as const);
    const outcome = started.catch(() => 'failed' as const);
    try {
      const first = await Promise.race([started, down, placed.lost]).catch((error: unknown) => {
        if (placed.ended) return 'started' as const;
        if (movable && !member.health.healthy && member.guard?.neverCreated(label)) return 'down' as const;
        throw error;
      });
      if (first === 'started') return 'started';
      // A create in flight may still fail as refused (then nothing reached the cluster): wait for it to settle.
      while (movable && member.guard && !placed.ended && member.guard.undecided(label)) {
        if (member.guard.neverCreated(label)) {
          member.guard.abandon(label);
          // `cancel` withdraws the start synchronously (no create is sent after it); its deletes go on alone.
          void member.runtime.cancel(id).catch(() => undefined);
          started.catch(() => undefined);
          this.#unplace(member, placed);
          return 'moved';
        }
        const settled = member.guard.whenIdle(label).then(() => 'idle' as const);
        const next = await Promise.race([settled, outcome, placed.lost]);
        if (next === 'started') return 'started';
        // Its runtime gave up creating; only the creates still in flight can decide now.
        if (next === 'failed') await Promise.race([member.guard.whenIdle(label), placed.lost]);
      }
      // The Job may exist there: it stays, carried on when the cluster answers or ended after the bound.
      if (!placed.ended) {
        this.#options.warn(
          `${id}: cluster ${member.name} went down while its Job may have been created; it stays there`,
        );
      }
      // Its runtime's start may go on retrying (and cleaning up) against the dead API: not waited for.
      return await Promise.race([started, placed.lost]).catch((error: unknown) => {
        if (placed.ended) return 'started' as const;
        throw error;
      });
    } catch (error) {
      this.#unplace(member, placed);
      throw error;
    } finally {
      this.#healthChanged = this.#healthChanged.filter((f) => f !== check);
    }
  }

  #adoptOn(
    member: Member,
    request: RunRequest,
    observer: RunObserver,
    delivered?: DeliveredBytes,
  ): Promise<'adopted' | 'lost'> {
    const placed = this.#place(member, request, observer);
    return member.runtime.adopt(request, this.#observerFor(member, placed), delivered).then(
      (answer) => {
        if (answer === 'lost') this.#unplace(member, placed);
        return answer;
      },
      (error: unknown) => {
        this.#unplace(member, placed);
        throw error;
      },
    );
  }

  #place(member: Member, request: RunRequest, observer: RunObserver): Placed {
    let markLost = (): void => undefined;
    const lost = new Promise<'started'>((resolve) => (markLost = () => resolve('started')));
    const placed: Placed = { request, observer, ended: false, lost, markLost: () => markLost() };
    member.placed.set(request.evaluationId, placed);
    return placed;
  }

  #unplace(member: Member, placed: Placed): void {
    const id = placed.request.evaluationId;
    if (member.placed.get(id) === placed) member.placed.delete(id);
    member.guard?.forget(evaluationLabel(id));
  }

  /** Passes calls on, unless this run was already ended here (cluster lost); frees the placement at the end. */
  #observerFor(member: Member, placed: Placed): RunObserver {
    return {
      admitted: (at) => {
        if (!placed.ended) placed.observer.admitted?.(at);
      },
      started: (at, platform) => {
        if (!placed.ended) placed.observer.started(at, platform);
      },
      output: (stream, data) => {
        if (!placed.ended) placed.observer.output(stream, data);
      },
      finished: (outcome) => {
        if (placed.ended) return;
        placed.ended = true;
        this.#unplace(member, placed);
        return placed.observer.finished(outcome);
      },
    };
  }

  #wake(): void {
    for (const wake of [...this.#healthChanged]) wake();
  }

  #onUnreachable(member: Member): void {
    this.#options.warn(
      `cluster ${member.name} is unreachable (${member.health.lastError}); no new evaluations go there`,
    );
    this.#wake();
  }

  #onRecovered(member: Member): void {
    this.#options.warn(`cluster ${member.name} answers again; its evaluations carry on`);
    this.#pending.recovered(member.name);
    // Their pods may have run on without the API; nothing must stay behind (cancel deletes, idempotently).
    for (const id of member.givenUp) void member.runtime.cancel(id).catch(() => undefined);
    member.givenUp.clear();
    this.#wake();
  }

  /** Its runs end as `cluster_unreachable`; its runtime forgets them (a late Job there is deleted if it can be). */
  #onLost(member: Member): void {
    const seconds = Math.round(this.#options.lostAfterMs / 1000);
    this.#options.warn(
      `cluster ${member.name} has been unreachable for ${seconds} s; its evaluations end as errors`,
    );
    for (const placed of [...member.placed.values()]) {
      if (placed.ended) continue;
      placed.ended = true;
      placed.markLost();
      const id = placed.request.evaluationId;
      member.guard?.abandon(evaluationLabel(id));
      void member.runtime.cancel(id).catch(() => undefined);
      member.givenUp.add(id);
      this.#unplace(member, placed);
      void Promise.resolve(
        placed.observer.finished(
          this.#lostOutcome((seconds) => `cluster ${member.name} did not answer for ${seconds} s`),
        ),
      ).catch((error: unknown) => this.#options.warn(`ending ${id}: ${String(error)}`));
    }
    this.#pending.lost(member.name);
  }

  #lostOutcome(what: (seconds: number) => string): PlatformErrorOutcome {
    const seconds = Math.round(this.#options.lostAfterMs / 1000);
    return {
      kind: 'error',
      reason: 'cluster_unreachable',
      message: `${what(seconds)}; the evaluation was not run again`,
      at: this.#clock(),
    };
  }
}
