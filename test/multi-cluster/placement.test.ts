import { describe, expect, it } from 'vitest';
import { place, type ClusterView } from '../../src/runtime/multi-cluster/placement.js';

const cluster = (name: string, over: Partial<ClusterView> = {}): ClusterView => ({
  name,
  healthy: true,
  capacity: null,
  running: 0,
  ...over,
});

describe('placement policy', () => {
  it('chooses the healthy cluster with the most free quota (quota minus what runs there)', () => {
    const clusters = [
      cluster('a', { capacity: 10, running: 8 }),
      cluster('b', { capacity: 6, running: 1 }),
      cluster('c', { capacity: 40, running: 0, healthy: false }),
    ];
    expect(place(clusters, {}, 0)).toEqual({ kind: 'cluster', name: 'b' });
  });

  it('prefers a cluster without quota (unbounded room) over one with quota', () => {
    expect(place([cluster('a', { capacity: 100 }), cluster('b', { running: 50 })], {}, 0)).toEqual({
      kind: 'cluster',
      name: 'b',
    });
  });

  it('spreads ties round-robin by turn', () => {
    const clusters = [cluster('a'), cluster('b'), cluster('c')];
    const names = [0, 1, 2, 3, 4, 5].map((turn) => {
      const placement = place(clusters, {}, turn);
      return placement.kind === 'cluster' ? placement.name : null;
    });
    expect(names).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('still places on the least-full cluster when every cluster is over its quota', () => {
    const clusters = [cluster('a', { capacity: 2, running: 5 }), cluster('b', { capacity: 2, running: 3 })];
    expect(place(clusters, {}, 0)).toEqual({ kind: 'cluster', name: 'b' });
  });

  it('the cluster label pins, even to an unreachable or full cluster; an unknown name places nowhere', () => {
    const clusters = [cluster('a'), cluster('b', { healthy: false, capacity: 1, running: 1 })];
    expect(place(clusters, { cluster: 'b' }, 0)).toEqual({ kind: 'cluster', name: 'b' });
    expect(place(clusters, { cluster: 'z' }, 0)).toEqual({ kind: 'none', reason: 'unknown_cluster' });
  });

  it('skips excluded clusters (a start withdrawn from them) and says when no healthy cluster is left', () => {
    const clusters = [cluster('a'), cluster('b', { healthy: false })];
    expect(place(clusters, {}, 0, new Set(['a']))).toEqual({ kind: 'none', reason: 'no_healthy_cluster' });
    expect(place(clusters, { cluster: 'a' }, 0, new Set(['a']))).toEqual({
      kind: 'none',
      reason: 'unknown_cluster',
    });
    expect(place([], {}, 0)).toEqual({ kind: 'none', reason: 'no_healthy_cluster' });
  });
});
