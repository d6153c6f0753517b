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

/**
 * A run that put spilled output (`spill`) or one artifact (else) in the object store, and whose result the
 * store then takes (`stored`) or refuses (null).
 */
async function finishWith(what: 'spill' | 'artifact', stored: Evaluation | null): Promise<string[]> {
  const calls: string[] = [];
  const spill = what === 'spill' ? new LogSpillFiles(1024) : undefined;
  const run = new RunContext('ev1', 1024, 0, { stdout: 0, stderr: 0 }, false, spill);
  const artifact = { name: 'plot.png', size: 3, sha256: 'ab'.repeat(32) };
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
    ...(spill
      ? {
          storeSpill: async () => {
            calls.push('storeSpill');
            return SPILL;
          },
        }
      : {
          artifacts: {
            accept: async () => undefined,
            summary: () => ({ artifacts: [artifact], dropped: [] }),
          },
        }),
    dropObjects: async () => void calls.push('dropObjects'),
  };
  await createRunObserver(run, deps).finished(OUTCOME);
  return calls;
}

describe("run observer: a run's objects (spilled output, artifacts)", () => {
  it('are kept when the result naming them is stored', async () => {
    expect(await finishWith('spill', queuedEvaluation())).toEqual(['storeSpill', 'apply finished', 'ended']);
    expect(await finishWith('artifact', queuedEvaluation())).toEqual(['apply finished', 'ended']);
  });

  it('are deleted, before the run is let go, when the result is refused (a cancel was stored first)', async () => {
    expect(await finishWith('spill', null)).toEqual(['storeSpill', 'apply finished', 'dropObjects', 'ended']);
    expect(await finishWith('artifact', null)).toEqual(['apply finished', 'dropObjects', 'ended']);
  });
});
