import { createSqliteStore } from './sqlite/index.js';
import type { EvaluationStore } from './store.js';

export type * from './store.js';

/**
 * The one place that picks a store adapter from a URL. `sqlite:<path>` or a bare path opens SQLite
 * (`sqlite::memory:` for a throwaway database); `postgres://…` (or `postgresql://…`) opens PostgreSQL, whose
 * driver is loaded only then, so SQLite users never load it. A `schema` query parameter picks the PostgreSQL
 * schema (default `public`). The store is returned unmigrated: the caller runs `migrate()` once at startup, so
 * a schema problem surfaces there and not on the first request.
 *
 * @example
 * const store = await createStore('sqlite:.crucible/crucible.db');
 * await store.migrate();
 */
export async function createStore(url: string): Promise<EvaluationStore> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { createPostgresStore } = await import('./postgres/index.js');
    return createPostgresStore(postgresOptions(url));
  }
  // Any other scheme is a typo or an adapter this build lacks; opening it as a file path would hide that.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('sqlite:')) {
    throw new Error(`unsupported store URL "${url}": use sqlite:<path> or a file path`);
  }
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (path === '') throw new Error(`store URL "${url}" names no database file; use sqlite:<path>`);
  return createSqliteStore({ path });
}

/**
 * Takes Crucible's own `schema` parameter out of a PostgreSQL URL (the driver would pass an unknown parameter
 * on to the server, which refuses it). Anything unparseable goes to the adapter as it is, which reports it
 * without the password.
 */
function postgresOptions(url: string): { url: string; schema?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url };
  }
  const schema = parsed.searchParams.get('schema');
  if (schema === null) return { url };
  parsed.searchParams.delete('schema');
  return { url: parsed.toString(), schema };
}
