import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Prepares each SQL text once per connection. Lazy, because statements can only be prepared once the tables
 * exist, i.e. after `migrate()`. Keys are SQL texts built from fixed fragments, never from values, so the
 * cache stays bounded.
 */
export class StatementCache {
  private readonly cache = new Map<string, StatementSync>();

  constructor(private readonly db: DatabaseSync) {}

  get(sql: string): StatementSync {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  clear(): void {
    this.cache.clear();
  }
}
