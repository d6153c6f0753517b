import { createSqliteStore } from './sqlite/index.js';
import type { EvaluationStore } from './store.js';

export type * from './store.js';

/**
 * The one place that picks a store adapter from a URL. `sqlite:<path>` or a bare path opens SQLite
 * (`sqlite::memory:` for a throwaway database). The store is returned unmigrated: the caller runs
 * `migrate()` once at startup, so a schema problem surfaces there and not on the first request.
 *
 * @example
 * const store = await createStore('sqlite:.crucible/crucible.db');
 * await store.migrate();
 */
export async function createStore(url: string): Promise<EvaluationStore> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new Error('PostgreSQL store is not available in this build yet');
  }
  // Any other scheme is a typo or an adapter this build lacks; opening it as a file path would hide that.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('sqlite:')) {
    throw new Error(`unsupported store URL "${url}": use sqlite:<path> or a file path`);
  }
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (path === '') throw new Error(`store URL "${url}" names no database file; use sqlite:<path>`);
  return createSqliteStore({ path });
}
