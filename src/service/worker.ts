import type { EvaluationArtifacts } from './artifacts.js';
import { applyEvent, isTerminal, type Evaluation } from '../core/index.js';
import type { TransitionEvent } from '../events/index.js';
import type { DeliveredBytes, RunObserver, Runtime } from '../runtime/runtime.js';
import { ClaimLoop, Slots } from '../scheduler/index.js';
import type { Claimed, EvaluationStore } from '../store/store.js';
import { runRequestOf, shutdownOutcome } from './evaluation-mapping.js';
import type { ProjectRuns } from './project-runs.js';
import { LogSpillFiles } from './log-spill.js';
import { RunContext } from './run-context.js';
import { createRunObserver } from './run-observer.js';
import { messageOf, type Logger, type TransitionWriter } from './transition-writer.js';

export interface WorkerOptions {
  readonly store: EvaluationStore;
  readonly runtime: Runtime;
  readonly writer: TransitionWriter;
  readonly projectRuns: ProjectRuns;
  readonly replicaId: string;
  readonly concurrency: number;
  readonly globalConcurrency: number | undefined;
  readonly leaseMs: number;
  readonly agingMs: number;
  /** Per-user `maxRunning` for each claim (docs/scheduling.md); absent or undefined: no user is limited. */
  readonly maxRunning?: () => Promise<Readonly<Record<string, number>> | undefined>;
  readonly now: () => Date;
  readonly log: Logger;
  /** Stores each run's `/artifacts` (absent: none are kept). */
  readonly artifacts?: EvaluationArtifacts;
}

/**
 * The part of a replica that runs evaluations: its slots, the claim loop, the runs it holds, and the takeover
 * of orphans. The store is the queue: claims take queued evaluations (priority with aging, one global
 * limit, each claimed by exactly one replica) into free slots; the owner's lease keeps them its own; every
 * half lease, orphans — `starting`/`running` evaluations whose owner's lease ran out (after a restart on
 * SQLite: all of them) — are taken by compare-and-set on the owner and offered to `runtime.adopt`, ended as
 * `error` / `lost_on_restart` when the runtime cannot find them. Nothing is ever run twice.
 *
 * Held runs (`runtime.awaitsAdmission`: a Job suspended for Kueue) are claimed without a transition: they
 * stay `queued` with this replica as owner, hold a slot, and move to `starting` when the runtime reports the
 * admission. An orphaned held run is adopted like any other; when its Job is not there, its owner stopped
 * before creating it, and it is started again (the Job's name is the evaluation's: a create finding it
 * after all adopts it).
 *
 * Slots: a slot is held from the claim until the sandbox is gone — the run's `finished` was persisted, or a
 * cancel was delivered to the runtime after its launch returned — never merely until the status turned
 * terminal, so a cancelled program still being killed keeps counting against the limit.
 */
export class Worker {
  readonly slots: Slots;
  readonly #o: WorkerOptions;
  readonly #claims: ClaimLoop;
  readonly #runs = new Map<string, RunContext>();
  #working = false;
  #reaping: Promise<void> | null = null;
  #reapTimer: NodeJS.Timeout | undefined;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.slots = new Slots(options.concurrency);
    this.#claims = new ClaimLoop({
      freeSlots: () => this.slots.free,
      claim: (max) => this.#claim(max),
      onError: (error) =>
        options.log.warn(`claiming queued evaluations failed; retrying: ${messageOf(error)}`),
    });
  }

  get working(): boolean {
    return this.#working;
  }

  /** The run of an evaluation this replica holds, if any. */
  runOf(id: string): RunContext | undefined {
    return this.#runs.get(id);
  }

  async start(): Promise<void> {
    if (this.#working) return;
    this.#working = true;
    await this.#reapOrphans();
    this.#reapTimer = setInterval(() => void this.#reapOrphans(), this.#o.leaseMs / 2);
    this.#reapTimer.unref();
    this.#claims.start();
  }

  /** Stops claiming and taking over; closes the runtime and waits for the runs' last writes. */
  async stop(): Promise<void> {
    this.#working = false;
    clearInterval(this.#reapTimer);
    await this.#claims.stop();
    await this.#reaping;
    await this.#o.runtime.close();
    await Promise.all([...this.#runs.values()].map((run) => run.idle()));
  }

  /** Something may be claimable now (a submission here). */
  wake(): void {
    this.#claims.wake();
  }

  /** Every transition this node sees, its own and (on a shared store) other replicas'. */
  onTransition({ transition, evaluation }: TransitionEvent): void {
    // A queued evaluation to claim, or a slot freed somewhere under the global limit (without one, only a
    // slot freed here matters, and `#free` wakes the loop for that).
    const globalSlotFreed = this.#o.globalConcurrency !== undefined && isTerminal(transition.to);
    if (transition.to === 'queued' || globalSlotFreed) this.#claims.wake();
    const run = this.#runs.get(transition.evaluationId);
    // Another replica ended a run of ours (a cancel there, or our lease ran out): its sandbox must go.
    if (run && !evaluation && isTerminal(transition.to) && !run.cancelRequested) {
      run.cancelRequested = true;
      if (!run.launching) void this.killCancelled(run);
    }
  }

  /** Delivers a decided cancel to the runtime, then frees the slot: the sandbox is gone. */
  async killCancelled(run: RunContext): Promise<void> {
    const id = run.evaluationId;
    try {
      await this.#o.runtime.cancel(id);
    } catch (error) {
      this.#o.log.error(
        `cancelling ${id} in the ${this.#o.runtime.name} runtime failed: ${messageOf(error)}`,
      );
    }
    this.#free(run);
  }

  /** Claims up to `max` queued evaluations for this replica and launches them. */
  async #claim(max: number): Promise<number> {
    const { store, writer, projectRuns, runtime } = this.#o;
    const claimed = await writer.serially(async () => {
      const projectHasRoom = projectRuns.roomForClaim();
      const maxRunning = await this.#o.maxRunning?.();
      const batch = await store.claimQueued({
        ...(maxRunning ? { maxRunning } : {}),
        owner: this.#o.replicaId,
        max,
        globalConcurrency: this.#o.globalConcurrency ?? Number.MAX_SAFE_INTEGER,
        agingMs: this.#o.agingMs,
        // Stamped inside the claiming transaction, after the global count: `dispatchedAt`..`storedAt` then
        // overlap exactly as the store counted them, so the limit can be checked from stored timestamps.
        dispatch: (queued) => {
          // Leave it queued while its project runs `maxConcurrent` here: waiting for the cluster's quota
          // would hold a slot that another project's evaluation could use.
          if (!projectHasRoom(queued)) return null;
          // Its Job waits for Kueue's admission: it stays `queued` (owned, holding a slot) until the runtime
          // reports the admission, so `queued` keeps meaning "not admitted anywhere yet".
          if (runtime.awaitsAdmission?.(queued)) return 'hold';
          const at = this.#o.now();
          return applyEvent(queued, { type: 'dispatched', at, runtime: runtime.name }, at);
        },
      });
      for (const { evaluation, transition } of batch) {
        this.slots.occupy(evaluation.id);
        projectRuns.held(evaluation);
        this.#newRun(evaluation, 0, { stdout: 0, stderr: 0 }, true);
        if (transition) writer.publish({ transition, evaluation });
      }
      return batch;
    });
    for (const item of claimed) void this.#launch(item);
    return claimed.length;
  }

  async #launch({ evaluation }: Claimed): Promise<void> {
    const run = this.#runs.get(evaluation.id);
    if (!run) return;
    const observer = this.#observerFor(run, evaluation);
    if (!run.cancelRequested) {
      await this.#runRequest(evaluation)
        .then((request) => this.#o.runtime.start(request, observer))
        .catch((error: unknown) =>
          observer.finished({
            kind: 'error',
            reason: 'sandbox_error',
            message: messageOf(error),
            at: this.#o.now(),
          }),
        );
    }
    run.launching = false;
    // A cancel that arrived while the runtime was launching found nothing to kill yet.
    if (run.cancelRequested) await this.killCancelled(run);
  }

  #free(run: RunContext): void {
    run.spill?.discard();
    if (this.#runs.get(run.evaluationId) === run) this.#runs.delete(run.evaluationId);
    this.#o.projectRuns.released(run.evaluationId);
    if (this.slots.release(run.evaluationId)) this.#claims.wake();
  }

  /** Takes over every orphan this replica can win (compare-and-set on the owner: one replica each). */
  #reapOrphans(): Promise<void> {
    const { store, replicaId } = this.#o;
    this.#reaping ??= (async () => {
      try {
        for (const { evaluation, owner } of await store.listOrphans()) {
          if (!this.#working || this.#runs.has(evaluation.id)) continue;
          if (await store.transferOwnership(evaluation.id, owner, replicaId)) {
            await this.#adopt(evaluation, owner);
          }
        }
      } catch (error) {
        this.#o.log.warn(`looking for orphaned evaluations failed: ${messageOf(error)}`);
      } finally {
        this.#reaping = null;
      }
    })();
    return this.#reaping;
  }

  async #adopt(evaluation: Evaluation, previousOwner: string | null): Promise<void> {
    const { runtime, replicaId } = this.#o;
    this.slots.occupy(evaluation.id);
    this.#o.projectRuns.held(evaluation);
    const chunks = await this.#o.store.readLogs(evaluation.id);
    const delivered = { stdout: 0, stderr: 0 };
    for (const chunk of chunks) delivered[chunk.stream] += chunk.data.length;
    const run = this.#newRun(evaluation, chunks.at(-1)?.seq ?? 0, delivered, false);
    const observer = this.#observerFor(run, evaluation);
    const adopted = await this.#runRequest(evaluation)
      .then((request) => runtime.adopt(request, observer, delivered))
      .catch((error: unknown) => {
        this.#o.log.error(`adopting ${evaluation.id} failed: ${messageOf(error)}`);
        return 'lost' as const;
      });
    const from = previousOwner === replicaId || previousOwner === null ? '' : ` (from ${previousOwner})`;
    if (adopted === 'lost' && evaluation.status === 'queued') {
      // Held for admission, and its Job is not there: its owner stopped before creating it, so nothing ran.
      this.#o.log.info(`dispatching ${evaluation.id}${from} again: its held Job was never created`);
      run.launching = true;
      void this.#launch({ evaluation, transition: null });
    } else if (adopted === 'lost') {
      void observer.finished({
        kind: 'error',
        reason: 'lost_on_restart',
        message: 'the server running this evaluation stopped while it ran; it was not run again',
        at: this.#o.now(),
      });
    } else {
      this.#o.log.info(`re-adopted ${evaluation.id}${from} from the ${runtime.name} runtime`);
    }
  }

  /** What the runtime gets, with the evaluation's project placement. */
  async #runRequest(evaluation: Evaluation) {
    return runRequestOf(evaluation, await this.#o.projectRuns.placement(evaluation));
  }

  #newRun(evaluation: Evaluation, lastLogSeq: number, kept: DeliveredBytes, launching: boolean): RunContext {
    const { maxOutputBytes, maxLogBytes = 0 } = evaluation.limits;
    // Only a run seen from its first byte spills: one adopted after a restart lost what its spill file held.
    const spills = this.#o.artifacts && maxLogBytes > maxOutputBytes && kept.stdout + kept.stderr === 0;
    const spill = spills ? new LogSpillFiles(maxLogBytes - maxOutputBytes) : undefined;
    const run = new RunContext(evaluation.id, maxOutputBytes, lastLogSeq, kept, launching, spill);
    this.#runs.set(evaluation.id, run);
    return run;
  }

  #observerFor(run: RunContext, evaluation: Evaluation): RunObserver {
    const { writer, now, artifacts } = this.#o;
    return createRunObserver(run, {
      ...(artifacts
        ? {
            artifacts: artifacts.sinkFor(run.evaluationId, evaluation.limits.artifactsMb),
            // Kept when the stored result names objects of its own: a replica that re-adopted the same Job
            // stores under the same keys, and its result must keep them.
            dropObjects: async () => {
              const current = await this.#o.store.get(run.evaluationId);
              if (!current?.result?.logSpill && !current?.result?.artifacts?.length) {
                await artifacts.dropObjectsOf(run.evaluationId);
              }
            },
          }
        : {}),
      ...(artifacts && run.spill
        ? { storeSpill: (spill, afterSeq) => artifacts.storeLogSpill(spill, run.evaluationId, afterSeq) }
        : {}),
      now,
      runtimeName: this.#o.runtime.name,
      persist: (what, task) => writer.persist(what, task),
      appendLogs: (chunks) => this.#o.store.appendLogs(chunks),
      publishLogs: (chunks) => writer.publishLogs(chunks),
      apply: (id, event) => writer.apply(id, event),
      overrideOutcome: (outcome) => (writer.stopping ? shutdownOutcome(now()) : outcome),
      ended: (ended) => this.#free(ended),
      onError: (error) => this.#o.log.error(`evaluation ${run.evaluationId}: ${messageOf(error)}`),
    });
  }
}
