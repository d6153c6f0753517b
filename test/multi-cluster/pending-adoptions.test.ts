import { describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../src/core/index.js';
import { PendingAdoptions } from '../../src/runtime/multi-cluster/pending-adoptions.js';
import type { RunObserver } from '../../src/runtime/runtime.js';
import { request } from '../runtime/tracked.js';

/** Runs offered to adopt while some cluster could not say whether it holds their Job. */
function pending(answers: Record<string, 'adopted' | 'lost'>) {
  const endings: RunOutcome[] = [];
  const asked: string[] = [];
  let answered = Promise.resolve();
  const adoptions = new PendingAdoptions({
    adoptOn: (cluster) => {
      asked.push(cluster);
      const answer = Promise.resolve(answers[cluster] ?? 'lost');
      answered = answer.then(() => undefined);
      return answer;
    },
    lostOutcome: () => ({ kind: 'error', reason: 'cluster_unreachable', message: 'gone', at: new Date(0) }),
    now: () => new Date(0),
  });
  const observer: RunObserver = {
    started: () => undefined,
    output: () => undefined,
    finished: (outcome) => void endings.push(outcome),
  };
  // Lets the adoption's answer and its bookkeeping run.
  const settled = async () => {
    await answered;
    await new Promise<void>((resolve) => queueMicrotask(resolve));
  };
  return { adoptions, observer, endings, asked, settled };
}

describe('pending adoptions', () => {
  it('adopted by the first cluster that answers holding the Job: nothing ends', async () => {
    const { adoptions, observer, endings, asked, settled } = pending({ west: 'adopted' });
    adoptions.add(request('print(1)'), observer, undefined, ['east', 'west']);
    expect(adoptions.countOn('west')).toBe(1);
    adoptions.recovered('west');
    await settled();
    expect([asked, endings, adoptions.countOn('east')]).toEqual([['west'], [], 0]);
  });

  it('every cluster answered without it: lost_on_restart, as on one cluster', async () => {
    const { adoptions, observer, endings, settled } = pending({});
    adoptions.add(request('print(1)'), observer, undefined, ['east', 'west']);
    adoptions.recovered('east');
    await settled();
    expect(endings).toEqual([]);
    adoptions.recovered('west');
    await settled();
    expect(endings.map((e) => e.kind === 'error' && e.reason)).toEqual(['lost_on_restart']);
  });

  it('a cluster it waited for stayed unreachable past the bound: cluster_unreachable', async () => {
    const { adoptions, observer, endings, settled } = pending({});
    adoptions.add(request('print(1)'), observer, undefined, ['east', 'west']);
    adoptions.lost('east');
    adoptions.recovered('west');
    await settled();
    expect(endings.map((e) => e.kind === 'error' && e.reason)).toEqual(['cluster_unreachable']);
  });

  it('a cancelled one is dropped: never asked again', async () => {
    const { adoptions, observer, endings, asked } = pending({});
    const req = request('print(1)');
    adoptions.add(req, observer, undefined, ['east']);
    adoptions.drop(req.evaluationId);
    adoptions.recovered('east');
    expect([asked, endings]).toEqual([[], []]);
  });
});
