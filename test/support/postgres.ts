import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import type { EvaluationStore } from '../../src/store/store.js';

/** The machine's PostgreSQL (trust auth); `CRUCIBLE_TEST_POSTGRES_URL` points the tests elsewhere. */
export const POSTGRES_URL =
  process.env['CRUCIBLE_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Why PostgreSQL cannot be used here, or null when it answers. */
async function missingPostgres(): Promise<string | null> {
  const client = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return `no PostgreSQL at ${POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')} (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Asked once per test file (each file imports this module afresh), before any suite is declared. */
export const POSTGRES_MISSING = await missingPostgres();

/** A private schema for one suite, and a store URL that selects it (`?schema=`, read by `createStore`). */
export interface TestDatabase {
  readonly url: string;
  readonly schema: string;
}

/**
 * `describe` for tests that need PostgreSQL: skipped with the reason in the title where none answers, but a
 * failure under CI, whose machine runs one and must run them all. `database()` is the suite's own schema,
 * made before the suite's other `beforeAll` hooks run and dropped after its `afterAll` hooks (it is created
 * by the first store that migrates it).
 */
export function describePostgres(title: string, body: (database: () => TestDatabase) => void): void {
  if (POSTGRES_MISSING && process.env['CI'])
    throw new Error(`${title}: ${POSTGRES_MISSING}, and CI must run it`);
  if (POSTGRES_MISSING) {
    console.warn(`${title}: skipped, ${POSTGRES_MISSING}`);
    describe.skip(`${title} (skipped: ${POSTGRES_MISSING})`, () => body(noDatabase));
    return;
  }
  describe(title, () => {
    const schemas = new TestSchemas();
    let database: TestDatabase | undefined;
    beforeAll(() => {
      const schema = schemas.name();
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('schema', schema);
      database = { url: url.toString(), schema };
    });
    // Registered before the body's hooks, so (after hooks run in reverse) it runs after all of them.
    afterAll(() => schemas.dropAll());
    body(() => {
      if (!database) throw new Error('database() is available from beforeAll on');
      return database;
    });
  });
}

function noDatabase(): TestDatabase {
  throw new Error(`PostgreSQL is missing: ${POSTGRES_MISSING}`);
}

/**
 * Schemas for tests, each new and private, so tests never see each other's rows; `dropAll` removes every one
 * made so far (their stores should be closed first).
 */
export class TestSchemas {
  readonly #made: string[] = [];
  readonly #schemaOf = new WeakMap<EvaluationStore, string>();

  /** A fresh schema name (created by the store's `migrate()`). */
  name(): string {
    const schema = `crucible_test_${randomBytes(6).toString('hex')}`;
    this.#made.push(schema);
    return schema;
  }

  /** A store in a fresh schema, unmigrated. */
  store(schema = this.name(), poolSize = 4): EvaluationStore {
    const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize });
    this.#schemaOf.set(store, schema);
    return store;
  }

  /** Another store on the same schema as `store`, as another replica would open. */
  sibling(store: EvaluationStore): EvaluationStore {
    return this.store(this.schemaOf(store));
  }

  schemaOf(store: EvaluationStore): string {
    const schema = this.#schemaOf.get(store);
    if (!schema) throw new Error('this store was not made by TestSchemas');
    return schema;
  }

  async dropAll(): Promise<void> {
    const schemas = this.#made.splice(0);
    if (schemas.length === 0) return;
    await withClient(async (client) => {
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    });
  }
}

/** Runs `work` on a plain connection of its own (for what the store does not offer: DDL, locks, admin). */
export async function withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}
