import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alwaysLeader, createLeaderElection, type LeaderElector } from '../../src/cluster/index.js';
import { startFakeApiServer, type FakeApiOnly } from '../../testkit/fake-kube/index.js';
import { Election, eventually, FAST, NAMESPACE, startProxy } from './harness.js';

/**
 * Leader election against the fake API server over real HTTP (`@kubernetes/client-node` →
 * coordination.k8s.io/v1 Leases). Timings: lease 1 s, renew deadline 600 ms, retry 100 ms.
 */

let api: FakeApiOnly;
let election: Election;
let running: LeaderElector[] = [];
let leaseNumber = 0;

beforeAll(async () => {
  api = await startFakeApiServer();
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await Promise.all(running.map((candidate) => candidate.stop({ release: false })));
  running = [];
  election?.close();
  api.server.faults.gate = null;
  api.server.faults.stalled = false;
});

function newElection(): Election {
  leaseNumber += 1;
  election = new Election(api, `crucible-leader-${leaseNumber}`);
  return election;
}

async function start(...candidates: LeaderElector[]): Promise<void> {
  running.push(...candidates);
  await Promise.all(candidates.map((c) => c.start()));
}

/** Upper bound for "at once": a few retry periods plus scheduling slack on a busy machine. */
const PROMPTLY_MS = 500;

describe('leader election over a coordination.k8s.io/v1 Lease', () => {
  it('elects one of two candidates; the other follows it and never leads', async () => {
    const e = newElection();
    const a = e.candidate('a');
    const b = e.candidate('b');
    await start(a, b);
    await e.until(() => e.leaders().length === 1);
    const leader = e.leaders()[0]!;
    const follower = leader === 'a' ? b : a;
    expect([a, b].filter((c) => c.isLeader).map((c) => c.identity)).toEqual([leader]);
    // Several renewals later the follower still follows and has seen who leads.
    const renewals = e.writes.length + 5;
    await e.until(() => e.writes.length >= renewals);
    expect(follower.isLeader).toBe(false);
    expect(e.newLeaders.get(follower.identity)).toEqual([leader]);
    expect(e.terms).toHaveLength(1);
    expect(e.writes.every((w) => w.holder === leader && w.transitions === 0)).toBe(true);
    expect(new Set(e.writes.map((w) => w.acquireTime)).size).toBe(1);
    expect(new Set(e.writes.map((w) => w.renewTime)).size).toBe(e.writes.length);
    expect(api.store.get('leases', NAMESPACE, e.name)?.spec).toMatchObject({
      holderIdentity: leader,
      leaseDurationSeconds: 1,
      renewTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
    });
  });

  it('replaces a leader that stopped renewing after the lease duration, not before', async () => {
    const e = newElection();
    const a = e.candidate('a');
    await start(a);
    expect(a.isLeader).toBe(true);
    const b = e.candidate('b');
    await start(b);
    await e.until(() => e.newLeaders.get('b')?.[0] === 'a');

    await a.stop({ release: false }); // a crashed, as far as the Lease can tell: no renewal, no release
    const lastRenewal = e.lastWriteBy('a')!;
    await e.until(() => b.isLeader, 3000);
    const takeover = e.firstWriteBy('b')!;

    expect(takeover.at - lastRenewal.at).toBeGreaterThanOrEqual(FAST.leaseDurationMs);
    expect(takeover.at - lastRenewal.at).toBeLessThan(FAST.leaseDurationMs + 700);
    expect(takeover).toMatchObject({ holder: 'b', transitions: lastRenewal.transitions + 1 });
    expect(takeover.acquireTime).not.toBe(lastRenewal.acquireTime);
    e.assertNoOverlap();
  });

  it('hands over at once when the leader stops cleanly (release clears the holder)', async () => {
    const e = newElection();
    const a = e.candidate('a');
    await start(a);
    const b = e.candidate('b');
    await start(b);
    await e.until(() => e.newLeaders.get('b')?.[0] === 'a');

    await a.stop();
    const release = e.writes.find((w) => w.holder === '')!;
    expect(release).toMatchObject({ durationSeconds: 1, transitions: 0 });
    // The guarded work had stopped before the lease was given away.
    expect(e.terms[0]!.stoppedAt!).toBeLessThanOrEqual(release.at);
    await e.until(() => b.isLeader, 3000);
    const takeover = e.firstWriteBy('b')!;
    expect(takeover.at - release.at).toBeLessThan(PROMPTLY_MS);
    expect(takeover.at - release.at).toBeLessThan(FAST.leaseDurationMs);
    expect(takeover.transitions).toBe(1);
    e.assertNoOverlap();
  });

  it('lets exactly one of three racing candidates win; the losers get 409 and wait', async () => {
    const e = newElection();
    const a = e.candidate('a');
    const b = e.candidate('b');
    const c = e.candidate('c');
    // Line the three first reads up behind a gate: all see no Lease, all POST it, one wins.
    let open = (): void => undefined;
    api.server.faults.gate = new Promise<void>((resolve) => (open = resolve));
    const gatedBefore = api.server.requests.gated;
    const conflictsBefore = api.server.requests.conflicts;
    const starting = start(a, b, c);
    await eventually(() => api.server.requests.gated - gatedBefore === 3);
    api.server.faults.gate = null;
    open();
    await starting;
    expect(api.server.requests.conflicts - conflictsBefore).toBe(2);
    expect(e.leaders()).toHaveLength(1);

    // The leader dies; the two others race for the released-but-unreleased Lease, again lined up.
    const first = [a, b, c].find((x) => x.isLeader)!;
    const rest = [a, b, c].filter((x) => x !== first);
    await first.stop({ release: false });
    api.server.faults.gate = new Promise<void>((resolve) => (open = resolve));
    const gated = api.server.requests.gated;
    const conflicts = api.server.requests.conflicts;
    // Nobody holds it now (what a release writes), so both followers will try to take it at once.
    api.store.update('leases', NAMESPACE, e.name, (lease) => {
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 };
    });
    await eventually(() => api.server.requests.gated - gated === 2);
    api.server.faults.gate = null;
    open();
    await e.until(() => rest.some((x) => x.isLeader));
    expect(api.server.requests.conflicts - conflicts).toBeGreaterThanOrEqual(1);
    const renewals = e.writes.length + 5;
    await e.until(() => e.writes.length >= renewals);
    expect(rest.filter((x) => x.isLeader)).toHaveLength(1);
    expect(e.leaders()).toHaveLength(1);
    e.assertNoOverlap();
    expect(e.lastWriteBy(rest.find((x) => x.isLeader)!.identity)!.transitions).toBe(1);
  });

  it('keeps one leader at any moment while leaders keep dying and coming back', async () => {
    const e = newElection();
    const candidates = ['a', 'b', 'c'].map((id) => e.candidate(id));
    await start(...candidates);
    let generation = 0;
    for (let round = 0; round < 3; round += 1) {
      await e.until(() => e.leaders().length === 1, 4000);
      const leader = running.find((x) => x.isLeader)!;
      const before = e.lastWriteBy(leader.identity)!.transitions;
      await leader.stop({ release: round % 2 === 0 });
      generation += 1;
      await start(e.candidate(`${leader.identity}-${generation}`));
      await e.until(() => e.leaders().length === 1 && !leader.isLeader, 4000);
      const successor = running.find((x) => x.isLeader)!;
      expect(e.lastWriteBy(successor.identity)!.transitions).toBe(before + 1);
    }
    e.assertNoOverlap();
  });

  it.each([
    ['long past', '2000-01-01T00:00:00.000000Z'],
    ['far future', '2100-01-01T00:00:00.000000Z'],
  ])(
    'judges expiry by its own observation, not by a renewTime in the %s (clock skew)',
    async (_when, renewTime) => {
      const e = newElection();
      // A holder on a badly skewed clock, which then died: its record never changes again.
      api.store.create('leases', NAMESPACE, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: e.name },
        spec: {
          holderIdentity: 'ghost',
          leaseDurationSeconds: 1,
          acquireTime: renewTime,
          renewTime,
          leaseTransitions: 4,
        },
      });
      const startingAt = performance.now();
      const b = e.candidate('b');
      await start(b); // resolves after b's first read: it saw the record between these two instants
      const startedAt = performance.now();
      expect(b.isLeader).toBe(false);
      expect(e.newLeaders.get('b')).toEqual(['ghost']);
      await e.until(() => b.isLeader, 3000);
      const takeover = e.firstWriteBy('b')!;
      expect(takeover.at - startingAt).toBeGreaterThanOrEqual(FAST.leaseDurationMs);
      expect(takeover.at - startedAt).toBeLessThan(FAST.leaseDurationMs + 700);
      expect(takeover.transitions).toBe(5);
    },
  );

  it.each(['refused', 'hung'] as const)(
    'steps down when the API server is unreachable (%s) for longer than the renew deadline',
    async (fault) => {
      const e = newElection();
      const a = e.candidate('a');
      await start(a);
      await e.until(() => e.writes.length >= 3);
      const port = api.server.port;
      if (fault === 'refused') await api.server.stop();
      else api.server.faults.stalled = true;
      const outageAt = performance.now();
      await e.until(() => !a.isLeader, 3000);
      const stoppedAt = e.terms[0]!.stoppedAt!;
      const lastRenewal = e.lastWriteBy('a')!;
      // Not before the deadline (counted from the last renewal's start, which precedes its write)…
      expect(stoppedAt - lastRenewal.at).toBeGreaterThanOrEqual(FAST.renewDeadlineMs - FAST.retryPeriodMs);
      // …and before anyone else could take the lease.
      expect(stoppedAt - lastRenewal.at).toBeLessThan(FAST.leaseDurationMs);
      expect(stoppedAt - outageAt).toBeLessThan(FAST.renewDeadlineMs + 200);

      if (fault === 'refused') await api.server.listen(port);
      else api.server.faults.stalled = false;
      await e.until(() => a.isLeader, 3000);
      expect(e.terms).toHaveLength(2);
      expect(e.lastWriteBy('a')!.transitions).toBe(0);
    },
  );

  it('a partitioned leader steps down before the other candidate takes over', async () => {
    const e = newElection();
    const proxy = await startProxy(api.server.port);
    try {
      const a = e.candidate('a', { kubeconfigPath: await api.kubeconfigFor(proxy.url) });
      await start(a);
      const b = e.candidate('b');
      await start(b);
      await e.until(() => e.newLeaders.get('b')?.[0] === 'a');
      await proxy.cut();
      await e.until(() => b.isLeader, 3000);
      const aTerm = e.terms.find((t) => t.identity === 'a')!;
      const bTerm = e.terms.find((t) => t.identity === 'b')!;
      expect(aTerm.stoppedAt).not.toBeNull();
      expect(bTerm.startedAt - aTerm.stoppedAt!).toBeGreaterThan(0);
      expect(e.firstWriteBy('b')!.at - e.lastWriteBy('a')!.at).toBeGreaterThanOrEqual(FAST.leaseDurationMs);
      e.assertNoOverlap();

      // Healed, a sees b's renewals and follows.
      await proxy.heal();
      await e.until(() => (e.newLeaders.get('a') ?? []).includes('b'), 3000);
      expect(a.isLeader).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('leaves no timer or connection open after stop', async () => {
    // A server of its own: no connection of an earlier test still closing.
    const own = await startFakeApiServer();
    const e = new Election(own, 'crucible-leader-own');
    try {
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const timersBefore = timers();
      const a = e.candidate('a');
      await a.start();
      await e.until(() => e.writes.length >= 3);
      expect(own.server.openConnections).toBeGreaterThan(0);
      await a.stop();
      await eventually(() => own.server.openConnections === 0, 2000);
      expect(timers()).toBeLessThanOrEqual(timersBefore);
    } finally {
      e.close();
      await own.close();
    }
  });

  it('refuses timings client-go refuses, and whole seconds only for the lease', () => {
    const base = {
      namespace: NAMESPACE,
      name: 'x',
      identity: 'a',
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    };
    expect(() => createLeaderElection({ ...base, leaseDurationMs: 1000, renewDeadlineMs: 1000 })).toThrow(
      /greater than renewDeadlineMs/,
    );
    expect(() => createLeaderElection({ ...base, renewDeadlineMs: 1000, retryPeriodMs: 900 })).toThrow(
      /× 1.2/,
    );
    expect(() => createLeaderElection({ ...base, leaseDurationMs: 1500, renewDeadlineMs: 600 })).toThrow(
      /whole number of seconds/,
    );
    expect(() => createLeaderElection({ ...base, identity: '' })).toThrow(/identity/);
  });
});

describe('alwaysLeader', () => {
  it('leads from start to stop, for single-process deployments', async () => {
    const calls: string[] = [];
    const single = alwaysLeader({
      onStartedLeading: () => void calls.push('started'),
      onStoppedLeading: () => void calls.push('stopped'),
      onNewLeader: (id) => void calls.push(`leader ${id}`),
    });
    expect(single.isLeader).toBe(false);
    await single.start();
    expect(single.isLeader).toBe(true);
    await single.start();
    await single.stop();
    await single.stop();
    expect(single.isLeader).toBe(false);
    expect(calls).toEqual(['leader local', 'started', 'stopped']);
  });
});
