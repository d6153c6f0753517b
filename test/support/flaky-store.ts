import type { EvaluationStore } from '../../src/store/store.js';

/** Store methods that write; the ones a flaky store can be told to fail. */
export type WriteMethod =
  | 'create'
  | 'saveTransition'
  | 'appendLogs'
  | 'claimQueued'
  | 'transferOwnership'
  | 'renewLease'
  | 'dropLease';

/**
 * The writes of a run that fail by default. Lease writes are left out unless asked for: they run on a timer,
 * so counting them would make "fail the next N writes" depend on timing.
 */
const RUN_WRITES: readonly WriteMethod[] = [
  'create',
  'saveTransition',
  'appendLogs',
  'claimQueued',
  'transferOwnership',
];

/**
 * A real store behind a switch that makes its next N writes fail, as a database that drops connections
 * would. Reads keep working; each failing write changes nothing. Every method is delegated explicitly (bound to
 * the real store), so adapters with private fields work behind it.
 */
export class FlakyStore {
  failuresLeft = 0;
  failed = 0;
  readonly store: EvaluationStore;

  constructor(inner: EvaluationStore, failing: readonly WriteMethod[] = RUN_WRITES) {
    const fallible =
      <A extends unknown[], R>(method: string, call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (this.failuresLeft > 0 && (failing as readonly string[]).includes(method)) {
          this.failuresLeft--;
          this.failed++;
          throw new Error(`store unavailable (injected failure in ${method})`);
        }
        return call(...args);
      };
    const watchChanges = inner.watchChanges?.bind(inner);
    this.store = {
      shared: inner.shared,
      migrate: () => inner.migrate(),
      create: fallible('create', (evaluation, idempotency) => inner.create(evaluation, idempotency)),
      findIdempotent: (scope, key) => inner.findIdempotent(scope, key),
      get: (id) => inner.get(id),
      list: (query) => inner.list(query),
      saveTransition: fallible('saveTransition', (write) => inner.saveTransition(write)),
      transitionsAfter: (afterSeq, limit) => inner.transitionsAfter(afterSeq, limit),
      latestTransitionSeq: () => inner.latestTransitionSeq(),
      transitionsOf: (evaluationId) => inner.transitionsOf(evaluationId),
      appendLogs: fallible('appendLogs', (chunks) => inner.appendLogs(chunks)),
      readLogs: (evaluationId, read) => inner.readLogs(evaluationId, read),
      listByStatus: (statuses) => inner.listByStatus(statuses),
      claimQueued: fallible('claimQueued', (request) => inner.claimQueued(request)),
      queueCounts: () => inner.queueCounts(),
      renewLease: fallible('renewLease', (replica, ttlMs) => inner.renewLease(replica, ttlMs)),
      dropLease: fallible('dropLease', (replica) => inner.dropLease(replica)),
      listOrphans: () => inner.listOrphans(),
      listOwned: (owner, statuses) => inner.listOwned(owner, statuses),
      transferOwnership: fallible('transferOwnership', (id, from, to) =>
        inner.transferOwnership(id, from, to),
      ),
      ...(watchChanges ? { watchChanges } : {}),
      close: () => inner.close(),
    } satisfies EvaluationStore;
  }

  failNext(writes: number): void {
    this.failuresLeft = writes;
  }
}
