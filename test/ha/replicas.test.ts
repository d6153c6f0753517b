import { afterAll, beforeAll, expect, it } from 'vitest';
import { Crucible, type Evaluation, type Transition } from '../../src/client/index.js';
import { describeSandboxed } from '../support/requirements.js';
import { describePostgres, type TestDatabase } from '../support/postgres.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';
import { maxOverlap } from './overlap.js';

const REPLICAS = 3;
const EVALUATIONS = 300;
const SLOTS_PER_REPLICA = 2;
const GLOBAL_LIMIT = 4;
const LEASE_SECONDS = 2;
/** Submissions in flight at once across the test's clients. */
const IN_FLIGHT = 12;
/** The replica killed with SIGKILL once this many evaluations have been submitted. */
const KILL_AFTER = 100;

interface Replica {
  readonly server: TestServer;
  readonly client: Crucible;
  /** Terminal transitions its SSE stream delivered, in order. */
  readonly terminal: Transition[];
  readonly stopEvents: AbortController;
  alive: boolean;
}

describePostgres('three replicas on one PostgreSQL database', (database: () => TestDatabase) => {
  describeSandboxed('one replica killed with SIGKILL mid-run', () => {
    const replicas: Replica[] = [];
    const submitted: { id: string; expected: string }[] = [];

    beforeAll(async () => {
      for (let i = 0; i < REPLICAS; i++) {
        const server = await startTestServer({
          args: [
            ...['--store', database().url, '--replica-id', `replica-${i}`],
            ...['--concurrency', String(SLOTS_PER_REPLICA), '--global-concurrency', String(GLOBAL_LIMIT)],
            ...['--lease-seconds', String(LEASE_SECONDS)],
          ],
        });
        const replica: Replica = {
          server,
          client: new Crucible({ baseUrl: server.url, retry: { attempts: 1 } }),
          terminal: [],
          stopEvents: new AbortController(),
          alive: true,
        };
        replicas.push(replica);
        void collectTerminal(replica);
      }
      // Every SSE stream is open (it answered its first read) before anything is submitted.
      await Promise.all(replicas.map((r) => r.client.ready()));
    }, 60_000);

    afterAll(async () => {
      for (const replica of replicas) {
        replica.stopEvents.abort();
        await replica.server.stop();
        await removeDataDir(replica.server.dataDir);
      }
    });

    async function collectTerminal(replica: Replica): Promise<void> {
      try {
        for await (const transition of replica.client.events({ signal: replica.stopEvents.signal })) {
          if (['succeeded', 'failed', 'timed_out', 'cancelled', 'error'].includes(transition.to)) {
            replica.terminal.push(transition);
          }
        }
      } catch {
        // The killed replica's stream ends with its process.
      }
    }

    /** Round-robin over the live replicas; a submission refused by a dead one goes to the next, same key. */
    async function submit(index: number): Promise<void> {
      const expected = `evaluation ${index}`;
      const key = `ha-test-${index}`;
      for (let attempt = 0; attempt < REPLICAS; attempt++) {
        const replica = replicas[(index + attempt) % REPLICAS]!;
        if (!replica.alive) continue;
        try {
          const evaluation = await replica.client.submit(
            { language: 'python', code: `import time\ntime.sleep(0.1)\nprint("${expected}")` },
            { idempotencyKey: key },
          );
          submitted.push({ id: evaluation.id, expected: `${expected}\n` });
          return;
        } catch (error) {
          if (replica.alive) throw error;
        }
      }
      throw new Error(`no replica accepted evaluation ${index}`);
    }

    it('runs every evaluation exactly once, ends each correctly, and SSE everywhere sees every end once', async () => {
      let next = 0;
      const victim = replicas[1]!;
      const workers = Array.from({ length: IN_FLIGHT }, async () => {
        while (next < EVALUATIONS) {
          const index = next++;
          if (index === KILL_AFTER) {
            // Mid-run: the victim holds a running sandbox when it dies.
            await expect
              .poll(async () => (await victim.client.queue()).replica.running, {
                timeout: 30_000,
                interval: 5,
              })
              .toBeGreaterThan(0);
            victim.alive = false;
            await victim.server.crash();
          }
          await submit(index);
        }
      });
      await Promise.all(workers);
      expect(new Set(submitted.map((s) => s.id)).size).toBe(EVALUATIONS);

      const survivors = replicas.filter((r) => r.alive);
      const finals = new Map<string, Evaluation>();
      for (const [i, { id }] of submitted.entries()) {
        finals.set(id, await survivors[i % survivors.length]!.client.wait(id, { timeoutSeconds: 60 }));
      }

      const lost = [...finals.values()].filter((e) => e.status === 'error');
      for (const evaluation of lost) {
        expect(evaluation.result?.reason).toBe('lost_on_restart');
      }
      // Only what was running on the killed replica can be lost: at most its slots.
      expect(lost.length).toBeLessThanOrEqual(SLOTS_PER_REPLICA);
      for (const { id, expected } of submitted) {
        const evaluation = finals.get(id)!;
        if (evaluation.status === 'error') continue;
        expect(evaluation.status, id).toBe('succeeded');
        expect(evaluation.result?.stdout, id).toBe(expected);
      }

      // Exactly once: one dispatch per evaluation, no transition twice.
      const client = survivors[0]!.client;
      for (const { id } of submitted) {
        const transitions = await client.transitions(id);
        expect(transitions.filter((t) => t.from === 'queued').length, id).toBe(1);
        const steps = transitions.map((t) => `${t.from}>${t.to}`);
        expect(new Set(steps).size, id).toBe(steps.length);
      }

      // SSE on each survivor: every terminal transition, exactly once.
      for (const replica of survivors) {
        await expect
          .poll(() => replica.terminal.length, { timeout: 10_000, interval: 50 })
          .toBeGreaterThanOrEqual(EVALUATIONS);
        const ids = replica.terminal.map((t) => t.evaluationId);
        expect(ids.length).toBe(EVALUATIONS);
        expect(new Set(ids)).toEqual(new Set(submitted.map((s) => s.id)));
        const seqs = replica.terminal.map((t) => t.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }

      // The global limit, from stored timestamps: dispatchedAt (stamped in the claim) .. storedAt.
      const intervals = [...finals.values()].map((e) => ({
        start: Date.parse(e.timings.dispatchedAt!),
        end: Date.parse(e.timings.storedAt!),
      }));
      const most = maxOverlap(intervals);
      expect(most).toBeLessThanOrEqual(GLOBAL_LIMIT);
      // More than one replica's slots at once: the limit was really shared, not one replica at a time.
      expect(most).toBeGreaterThan(SLOTS_PER_REPLICA);
      console.info(
        `${EVALUATIONS} evaluations on ${REPLICAS} replicas: ${lost.length} lost_on_restart with the killed replica, ` +
          `at most ${most} running at once (limit ${GLOBAL_LIMIT})`,
      );
    }, 240_000);
  });
});
