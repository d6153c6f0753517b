import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Runs work inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws. IMMEDIATE takes the write lock up
 * front: a deferred transaction that reads and then writes can fail with SQLITE_BUSY on the lock upgrade
 * without waiting for `busy_timeout`, which would make compare-and-set writes flaky beside a second process.
 * The three statements are prepared once because they run on every write.
 */
export class Transactor {
  private readonly begin: StatementSync;
  private readonly commit: StatementSync;
  private readonly rollback: StatementSync;

  constructor(private readonly db: DatabaseSync) {
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
  }

  /**
   * `work` must be synchronous: an `await` inside would let another call issue a nested BEGIN on this
   * connection. Throwing from `work` rolls back and rethrows.
   */
  run<T>(work: () => T): T {
    this.begin.run();
    try {
      const result = work();
      this.commit.run();
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.rollback.run();
      throw error;
    }
  }
}
