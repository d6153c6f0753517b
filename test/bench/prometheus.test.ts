import { describe, expect, it } from 'vitest';
import { histogramDelta, histogramOf, quantileBound } from '../../src/bench/prometheus.js';
import { EventBus } from '../../src/events/index.js';
import { createMetrics } from '../../src/metrics/index.js';

const queueStats = async () => ({
  queued: { high: 0, normal: 0, low: 0 },
  awaitingAdmission: 0,
  running: 0,
  capacity: 2,
  replica: { id: 'r', running: 0, capacity: 2, slots: 2 },
});

describe('the replica event lag, from a /metrics text', () => {
  it('is observed from the commit time another replica’s notification carried, and read back as quantiles', async () => {
    const bus = new EventBus();
    const registry = createMetrics(bus, queueStats as never, () => 0);
    const transition = {
      seq: 1,
      evaluationId: 'e',
      from: null,
      to: 'queued',
      at: 't',
      reason: null,
    } as const;
    const before = histogramOf(await registry.metrics(), 'crucible_replica_event_lag_seconds');
    for (let i = 0; i < 99; i++) bus.publishTransition({ transition, committedAt: Date.now() - 15 });
    bus.publishTransition({ transition, committedAt: Date.now() - 150 });
    // Our own transitions (with the evaluation) and those read back from the store carry no commit time.
    bus.publishTransition({ transition });
    const after = histogramOf(await registry.metrics(), 'crucible_replica_event_lag_seconds');
    const observed = histogramDelta(after, before);
    expect(observed.at(-1)).toEqual({ le: Infinity, count: 100 });
    expect(quantileBound(observed, 0.5)).toBe(0.02);
    expect(quantileBound(observed, 0.99)).toBe(0.02);
    expect(quantileBound(observed, 1)).toBe(0.2);
    expect(quantileBound(histogramDelta(before, before), 0.99)).toBeNull();
  });
});
