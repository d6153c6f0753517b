import { describe, expect, it } from 'vitest';
import type { Evaluation, Transition } from '../../src/core/index.js';
import { EventBus, StoreEventFeed, type TransitionEvent } from '../../src/events/index.js';
import type { StoreChange } from '../../src/store/store.js';

/** A shared store's transition log in memory: a commit wakes the feed the way a NOTIFY does. */
class TransitionLog {
  readonly rows: Transition[] = [];
  reads = 0;
  /** Notifications carry the transitions, as PostgreSQL's do; `localTo` is the store that wrote them. */
  carry = false;
  #notify: ((change: StoreChange) => void) | undefined;

  commit(evaluationId: string, to: Transition['to'], local = false): Transition {
    const row: Transition = {
      seq: this.rows.length + 1,
      evaluationId,
      from: null,
      to,
      at: new Date().toISOString(),
      reason: null,
    };
    this.rows.push(row);
    this.#notify?.(this.carry ? { kind: 'transition', transitions: [row], local } : { kind: 'transition' });
    return row;
  }

  readonly store = {
    transitionsAfter: async (seq: number, limit: number) => {
      this.reads += 1;
      return this.rows.filter((row) => row.seq > seq).slice(0, limit);
    },
    latestTransitionSeq: async () => this.rows.at(-1)?.seq ?? 0,
    readLogs: async () => [],
    watchChanges: async (listener: (change: StoreChange) => void) => {
      this.#notify = listener;
      return async () => {
        this.#notify = undefined;
      };
    },
  };
}

function deferred() {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A feed over `log` and the transitions its bus published, in order. */
function feedOver(log: TransitionLog) {
  const bus = new EventBus();
  const seen: TransitionEvent[] = [];
  bus.onTransition((event) => seen.push(event));
  const feed = new StoreEventFeed(log.store, bus, (error) => {
    throw error;
  });
  return { log, seen, feed };
}

describe('StoreEventFeed', () => {
  it('publishes another replica’s transition at once while a local write for another evaluation is slow', async () => {
    const { log, seen, feed } = feedOver(new TransitionLog());
    const slowWrite = deferred();
    const inFlight = new Map<string, Promise<void>>([['mine', slowWrite.promise]]);
    feed.awaitLocalWrites((t) => inFlight.get(t.evaluationId) ?? Promise.resolve());
    await feed.start();

    log.commit('theirs', 'queued');
    await expect.poll(() => seen.map((e) => e.transition.evaluationId)).toEqual(['theirs']);
    expect(seen[0]!.evaluation).toBeUndefined();

    // Our own write's commit is read before the write has returned: it waits for it, then passes for ours.
    const row = log.commit('mine', 'queued');
    log.commit('theirs', 'starting');
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(1);
    const evaluation = { id: 'mine' } as Evaluation;
    feed.committed({ transition: row, evaluation });
    slowWrite.resolve();
    await expect.poll(() => seen.length).toBe(3);
    expect(seen.map((e) => [e.transition.seq, e.evaluation?.id])).toEqual([
      [1, undefined],
      [2, 'mine'],
      [3, undefined],
    ]);
    await feed.stop();
  });

  it('publishes transitions the notifications carry without reading the store, and waits only for its own', async () => {
    const { log, seen, feed } = feedOver(Object.assign(new TransitionLog(), { carry: true }));
    const slowWrite = deferred();
    let waitedFor: string[] = [];
    feed.awaitLocalWrites((t) => {
      waitedFor.push(t.evaluationId);
      return t.evaluationId === 'mine' ? slowWrite.promise : Promise.resolve();
    });
    await feed.start();
    await expect.poll(() => log.reads).toBe(1); // start-up reads once, from the newest seq
    waitedFor = [];

    log.commit('theirs', 'queued');
    await expect.poll(() => seen.length).toBe(1);
    const mine = log.commit('mine', 'queued', true);
    log.commit('theirs', 'starting');
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(1);
    feed.committed({ transition: mine, evaluation: { id: 'mine' } as Evaluation });
    slowWrite.resolve();
    await expect.poll(() => seen.length).toBe(3);
    expect(seen.map((e) => [e.transition.seq, e.evaluation?.id])).toEqual([
      [1, undefined],
      [2, 'mine'],
      [3, undefined],
    ]);
    expect(waitedFor).toEqual(['mine']);
    expect(log.reads).toBe(1);
    await feed.stop();
  });
});
