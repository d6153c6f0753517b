import type { EvaluationStore } from '../../src/store/store.js';

/** Store methods that write; the ones a flaky store can be told to fail. */
type WriteMethod = 'create' | 'saveTransition' | 'appendLogs';

/**
 * A real store behind a switch that makes its next N writes fail, as a database that drops connections
 * would. Reads keep working; each failing write changes nothing.
 */
export class FlakyStore {
  failuresLeft = 0;
  failed = 0;
  readonly store: EvaluationStore;

  constructor(inner: EvaluationStore) {
    const failing = (method: WriteMethod) => {
      const original = inner[method].bind(inner) as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        if (this.failuresLeft > 0) {
          this.failuresLeft--;
          this.failed++;
          throw new Error(`store unavailable (injected failure in ${method})`);
        }
        return original(...args);
      };
    };
    this.store = Object.assign(Object.create(inner) as EvaluationStore, {
      create: failing('create'),
      saveTransition: failing('saveTransition'),
      appendLogs: failing('appendLogs'),
    });
  }

  failNext(writes: number): void {
    this.failuresLeft = writes;
  }
}
