import { Crucible } from '../client/index.js';
import { summarize, type Summary } from './stats.js';

export type Stage = 'queueWait' | 'start' | 'run' | 'store' | 'submitToStored';
export type StageSummaries = Record<Stage, Summary>;

interface Timings {
  readonly submittedAt: string | null;
  readonly dispatchedAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly storedAt: string | null;
}

/** Per-stage latencies from an evaluation's stored timestamps (ms), collected over many evaluations. */
export class StageRecorder {
  readonly #samples: Record<Stage, number[]> = {
    queueWait: [],
    start: [],
    run: [],
    store: [],
    submitToStored: [],
  };

  record(t: Timings): void {
    const diff = (a: string | null, b: string | null) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);
    this.#samples.queueWait.push(diff(t.submittedAt, t.dispatchedAt));
    this.#samples.start.push(diff(t.dispatchedAt, t.startedAt));
    this.#samples.run.push(diff(t.startedAt, t.finishedAt));
    this.#samples.store.push(diff(t.finishedAt, t.storedAt));
    this.#samples.submitToStored.push(diff(t.submittedAt, t.storedAt));
  }

  summaries(): StageSummaries {
    const s = this.#samples;
    return {
      queueWait: summarize(s.queueWait),
      start: summarize(s.start),
      run: summarize(s.run),
      store: summarize(s.store),
      submitToStored: summarize(s.submitToStored),
    };
  }
}

/**
 * One `print(1)` evaluation over HTTP, as a client does it: submit, then wait for the terminal status.
 * Throws unless it succeeded with the expected output, so a benchmark never reports failures as speed.
 */
export function printOneTask(baseUrl: string, stages?: StageRecorder): () => Promise<void> {
  // No retries: a benchmark must see every failure, not hide it behind a back-off.
  const client = new Crucible({ baseUrl, retry: { attempts: 1 } });
  return async () => {
    const submitted = await client.submit({ language: 'python', code: 'print(1)' });
    const final = await client.wait(submitted.id, { timeoutSeconds: 30 });
    if (final.status !== 'succeeded' || final.result?.stdout !== '1\n') {
      throw new Error(
        `benchmark evaluation ${final.id} ended ${final.status}: ${JSON.stringify(final.result)}`,
      );
    }
    stages?.record(final.timings);
  };
}
