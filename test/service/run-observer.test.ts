import { describe, expect, it } from 'vitest';
import type { Evaluation, LogSpill, RunOutcome } from '../../src/core/index.js';
import { LogSpillFiles } from '../../src/service/log-spill.js';
import { createRunObserver, type RunObserverDeps } from '../../src/service/run-observer.js';
import { RunContext } from '../../src/service/run-context.js';
import { queuedEvaluation } from '../store/fixtures.js';

const OUTCOME: RunOutcome = {
  kind: 'exited',
  exitCode: 0,
  signal: null,
  timedOut: false,
  oomKilled: false,
  startedAt: new Date(0),
  finishedAt: new Date(1),
  cpuTimeMs: null,
  peakMemoryBytes: null,
  memoryEnforcement: 'cgroup',
};
const SPILL: LogSpill = { afterSeq: 0, chunkBytes: 65536, stdout: 10, stderr: 0 };

/** A run whose spilled output was uploaded, and whose result the store then takes (`stored`) or refuses. */
async function finishWithSpill(stored: Evaluation | null): Promise<string[]> {
  const calls: string[] = [];
  const run = new RunContext('ev1', 1024, 0, { stdout: 0, stderr: 0 }, false, new LogSpillFiles(1024));
  const deps: RunObserverDeps = {
    now: () => new Date(),
    runtimeName: 'test',
    persist: (_what, task) => task(),
    appendLogs: async () => undefined,
    publishLogs: () => undefined,
    apply: async (_id, event) => {
      calls.push(`apply ${event.type}`);
      return stored;
    },
    overrideOutcome: (outcome) => outcome,
    ended: () => calls.push('ended'),
    onError: (error) => calls.push(`error ${String(error)}`),
    storeSpill: async () => {
      calls.push('storeSpill');
      return SPILL;
    },
    dropSpill: async () => void calls.push('dropSpill'),
  };
  await createRunObserver(run, deps).finished(OUTCOME);
  return calls;
}

describe('run observer: spilled output of a run', () => {
  it('is kept when the result naming it is stored', async () => {
    expect(await finishWithSpill(queuedEvaluation())).toEqual(['storeSpill', 'apply finished', 'ended']);
  });

  it('is deleted, before the run is let go, when the result is refused (a cancel was stored first)', async () => {
    expect(await finishWithSpill(null)).toEqual(['storeSpill', 'apply finished', 'dropSpill', 'ended']);
  });
});
