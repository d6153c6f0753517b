import type { ArtifactSink } from './artifacts.js';
import type {
  Evaluation,
  LifecycleEvent,
  LogChunk,
  LogSpill,
  PlatformStages,
  RunOutcome,
} from '../core/index.js';
import type { LogSpillFiles } from './log-spill.js';
import type { RunObserver } from '../runtime/runtime.js';
import type { RunContext } from './run-context.js';

/** What a run's observer needs from the service; each write is already retried by `persist`. */
export interface RunObserverDeps {
  readonly now: () => Date;
  /** Recorded on the `dispatched` transition of a run admitted late (Kueue). */
  readonly runtimeName: string;
  readonly persist: <T>(what: string, task: () => Promise<T>) => Promise<T>;
  readonly appendLogs: (chunks: readonly LogChunk[]) => Promise<void>;
  readonly publishLogs: (chunks: readonly LogChunk[]) => void;
  readonly apply: (id: string, event: LifecycleEvent) => Promise<Evaluation | null>;
  /** The outcome to record instead of the runtime's, e.g. "the server shut down" while stopping. */
  readonly overrideOutcome: (outcome: RunOutcome) => RunOutcome;
  /** The run is over and its result stored (or given up on): forget it and free its slot. */
  readonly ended: (run: RunContext) => void;
  readonly onError: (error: unknown) => void;
  /** Where this run's `/artifacts` files go (absent: no object store, none are kept). */
  readonly artifacts?: ArtifactSink;
  /** Uploads the output spilled past the inline cap (absent: the run spills nothing). */
  readonly storeSpill?: (spill: LogSpillFiles, afterSeq: number) => Promise<LogSpill | undefined>;
  /**
   * Deletes what this run put in the object store (artifacts, spilled output) when the result naming it was
   * not stored, unless the result stored instead names objects of its own.
   */
  readonly dropObjects?: () => Promise<void>;
}

/**
 * The observer a runtime reports one run to. Calls are persisted in the order the runtime made them; every
 * log chunk is stored before the terminal transition, so a follower that sees the end has seen everything.
 */
export function createRunObserver(run: RunContext, deps: RunObserverDeps): RunObserver {
  const id = run.evaluationId;
  // Stores every pending chunk, including those that arrive while a write is being retried.
  const flush = async () => {
    for (let chunks = run.pending(); chunks.length > 0; chunks = run.pending()) {
      await deps.persist(`storing output of ${id}`, () => deps.appendLogs(chunks));
      run.stored(chunks.length);
      deps.publishLogs(chunks);
    }
  };
  // A held run (still `queued`, owned) was admitted outside Crucible: now it is dispatched.
  const admitted = async (at: Date) => {
    const event: LifecycleEvent = { type: 'dispatched', at, runtime: deps.runtimeName };
    await deps.persist(`recording the admission of ${id}`, () => deps.apply(id, event));
  };
  const started = async (at: Date, platform?: Partial<PlatformStages>) => {
    const event: LifecycleEvent = { type: 'started', at, ...(platform ? { platform } : {}) };
    await deps.persist(`starting ${id}`, () => deps.apply(id, event));
  };
  // After the last flush, so the spilled chunks are numbered after every stored one.
  const storedSpill = async (): Promise<{ logSpill?: LogSpill }> => {
    if (!run.spill || !deps.storeSpill) return {};
    try {
      const logSpill = await deps.storeSpill(run.spill, run.lastLogSeq);
      return logSpill ? { logSpill } : {};
    } catch (error) {
      run.spillLost();
      deps.onError(error);
      return {};
    }
  };
  const finished = async (outcome: RunOutcome) => {
    try {
      await flush();
      const spilled = await storedSpill();
      const kept = artifactsOf(deps.artifacts);
      const event: LifecycleEvent = {
        type: 'finished',
        outcome: deps.overrideOutcome(outcome),
        output: run.outputFlags,
        ...kept,
        ...spilled,
      };
      const stored = await deps.persist(`storing the result of ${id}`, () => deps.apply(id, event));
      // The run ended otherwise first (a cancel stored while its files and output were being stored): no
      // result names those objects, and retention would never find them, so they go now.
      const putObjects = spilled.logSpill !== undefined || (kept.artifacts?.artifacts.length ?? 0) > 0;
      if (!stored && putObjects) await deps.dropObjects?.().catch(deps.onError);
    } finally {
      deps.ended(run);
    }
  };
  return {
    admitted: (at) => void run.enqueue(() => admitted(at), deps.onError),
    started: (at, platform) => void run.enqueue(() => started(at, platform), deps.onError),
    output: (stream, data) => {
      if (run.acceptOutput(stream, data, deps.now())) void run.enqueue(flush, deps.onError);
    },
    ...(deps.artifacts ? { artifact: artifactTo(deps.artifacts, run, deps.onError) } : {}),
    finished: (outcome) => {
      const persisted = run.enqueue(() => finished(outcome), deps.onError);
      // Rejects only when the result could not be stored (the server stopped with the store failing): a
      // runtime that waits on it then keeps what holds the output. One that ignores it must not crash us.
      persisted.catch(() => undefined);
      return persisted;
    },
  };
}

function artifactsOf(sink: ArtifactSink | undefined) {
  const summary = sink?.summary();
  return summary ? { artifacts: summary } : {};
}

/** Each file is stored in the run's serial chain, so all of them are in before the result is written. */
function artifactTo(sink: ArtifactSink, run: RunContext, onError: (error: unknown) => void) {
  return (file: Parameters<ArtifactSink['accept']>[0]) => run.enqueue(() => sink.accept(file), onError);
}
