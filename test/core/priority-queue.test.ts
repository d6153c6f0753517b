import { describe, expect, it } from 'vitest';
import { PriorityQueue, Scheduler, type QueueEntry } from '../../src/scheduler/index.js';

describe('PriorityQueue', () => {
  it('orders high, normal, low and FIFO within a level', () => {
    const q = new PriorityQueue(60_000);
    q.push({ id: 'l1', priority: 'low', enqueuedAt: 0 });
    q.push({ id: 'n1', priority: 'normal', enqueuedAt: 1 });
    q.push({ id: 'h1', priority: 'high', enqueuedAt: 2 });
    q.push({ id: 'h2', priority: 'high', enqueuedAt: 2 });
    q.push({ id: 'n2', priority: 'normal', enqueuedAt: 3 });
    const order = [];
    for (let e = q.pop(); e; e = q.pop()) order.push(e.id);
    expect(order).toEqual(['h1', 'h2', 'n1', 'n2', 'l1']);
  });

  it('ages: a low entry that waited two aging intervals longer beats a new high one', () => {
    const q = new PriorityQueue(1000);
    q.push({ id: 'old-low', priority: 'low', enqueuedAt: 0 });
    q.push({ id: 'new-high', priority: 'high', enqueuedAt: 2001 });
    q.push({ id: 'newer-high', priority: 'high', enqueuedAt: 1999 });
    expect(q.pop()?.id).toBe('newer-high');
    expect(q.pop()?.id).toBe('old-low');
    expect(q.pop()?.id).toBe('new-high');
  });

  it('removes entries and reports counts', () => {
    const q = new PriorityQueue(1000);
    q.push({ id: 'a', priority: 'low', enqueuedAt: 0 });
    q.push({ id: 'b', priority: 'high', enqueuedAt: 0 });
    expect(q.remove('b')).toBe(true);
    expect(q.remove('b')).toBe(false);
    expect(q.countsByPriority()).toEqual({ low: 1, normal: 0, high: 0 });
    expect(q.pop()?.id).toBe('a');
    expect(q.pop()).toBeUndefined();
  });
});

describe('Scheduler', () => {
  it('dispatches up to the concurrency limit and one more per release', () => {
    const dispatched: string[] = [];
    const s = new Scheduler({
      concurrency: 2,
      agingMs: 1000,
      dispatch: (e: QueueEntry) => dispatched.push(e.id),
    });
    for (const id of ['a', 'b', 'c', 'd']) s.enqueue({ id, priority: 'normal', enqueuedAt: 0 });
    expect(dispatched).toEqual([]);
    s.start();
    expect(dispatched).toEqual(['a', 'b']);
    expect(s.stats()).toEqual({ queued: { low: 0, normal: 2, high: 0 }, running: 2, capacity: 2 });
    s.release('a');
    expect(dispatched).toEqual(['a', 'b', 'c']);
    s.release('unknown');
    expect(dispatched).toEqual(['a', 'b', 'c']);
  });
});
