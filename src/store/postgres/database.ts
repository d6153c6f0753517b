import { createHash } from 'node:crypto';
import { Pool, type PoolClient, type QueryConfig, type QueryResultRow } from 'pg';

/** Anything statements can run on: the pool (each statement its own transaction) or one transaction. */
export interface Queryable {
  /** One statement with `$n` parameters, prepared once per connection (no parse and plan on every call). */
  query<R extends QueryResultRow>(sql: string, values?: readonly unknown[]): Promise<R[]>;
  /** Statements without parameters, sent as they are (DDL, several separated by `;`). */
  exec(sql: string): Promise<void>;
}

export interface DatabaseOptions {
  readonly url: string;
  /** Connections in the pool; default 10. */
  readonly poolSize?: number;
  /** How long to wait for a connection before failing; default 10 s (pg's default waits forever). */
  readonly connectTimeoutMs?: number;
}

export interface TransactionOptions {
  /**
   * A transaction-level advisory lock taken in the same round trip as BEGIN (see `advisoryKey`): the work
   * then runs with it held, and COMMIT or ROLLBACK releases it.
   */
  readonly advisoryLock?: string;
}

/**
 * The pool, and the one place errors leave the driver: each is scrubbed of the URL's password before it is
 * thrown, whatever the driver (or Node's URL parser) put into its message, stack or fields.
 */
export class Database implements Queryable {
  readonly pool: Pool;
  readonly #secrets: readonly string[];
  /** Prepared-statement name per SQL text. The texts are the adapter's fixed ones, so this stays small. */
  readonly #prepared = new Map<string, string>();

  constructor(options: DatabaseOptions) {
    this.#secrets = passwordForms(options.url);
    checkUrl(options.url);
    this.pool = new Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'crucible',
      // No JIT: the claim's statement is estimated expensive (plans for the blocked-users fallback it rarely
      // runs), so PostgreSQL's default jit_above_cost compiled it on every call — 130-260 ms of JIT for 1 ms
      // of execution at 100,000 queued. A `options` parameter in the URL replaces this one.
      options: '-c jit=off',
    });
    // An idle connection that dies (server restart, network) is reported here; without a listener Node would
    // crash the process. The pool has already dropped it, and the next query opens a fresh one.
    this.pool.on('error', () => {});
  }

  async query<R extends QueryResultRow>(sql: string, values: readonly unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(this.#statement(sql, values))).rows;
    } catch (error) {
      throw this.scrub(error);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.pool.query(sql);
    } catch (error) {
      throw this.scrub(error);
    }
  }

  /** Runs `work` between BEGIN and COMMIT on one connection; rolls back and rethrows if it throws. */
  async transaction<T>(work: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.scrub(error);
    }
    const tx: Queryable = {
      query: async <R extends QueryResultRow>(sql: string, values: readonly unknown[] = []) =>
        (await client.query<R>(this.#statement(sql, values))).rows,
      exec: async (sql: string) => void (await client.query(sql)),
    };
    let broken: Error | undefined;
    try {
      const lock = options.advisoryLock;
      if (lock !== undefined && !/^-?[0-9]{1,20}$/.test(lock))
        throw new Error(`bad advisory lock key ${lock}`);
      await client.query(lock === undefined ? 'BEGIN' : `BEGIN; SELECT pg_advisory_xact_lock(${lock})`);
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that cannot even roll back is broken: hand it back destroyed, not to the next caller.
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw this.scrub(error);
    } finally {
      client.release(broken);
    }
  }

  #statement(sql: string, values: readonly unknown[]): QueryConfig {
    let name = this.#prepared.get(sql);
    if (name === undefined) {
      name = `crucible_${this.#prepared.size + 1}`;
      this.#prepared.set(sql, name);
    }
    return { name, text: sql, values: values as unknown[] };
  }

  /** `error` with every form of the password replaced, in its message, stack and string fields. */
  scrub(error: unknown): unknown {
    if (this.#secrets.length === 0 || !(error instanceof Error)) return error;
    const clean = (text: string) => this.#secrets.reduce((t, secret) => t.split(secret).join('***'), text);
    const record = error as unknown as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(error)) {
      const value = record[key];
      if (typeof value === 'string') record[key] = clean(value);
    }
    if (error.cause !== undefined) this.scrub(error.cause);
    if (error instanceof AggregateError) for (const inner of error.errors) this.scrub(inner);
    return error;
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}

/**
 * A 64-bit advisory lock key for one purpose in one schema, so stores in different schemas of one database
 * (tests, several installations) never wait for each other. Derived by hash: stable across versions.
 */
export function advisoryKey(schema: string, purpose: 'migrate' | 'claim'): string {
  return createHash('sha256').update(`crucible:${purpose}:${schema}`).digest().readBigInt64BE(0).toString();
}

/** The URL with its password replaced, for error messages. */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@')
    .replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/**
 * Fails early and safely on a URL the driver could not parse: Node's own URL error carries the whole input
 * (password included) in a field that loggers print.
 */
function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`PostgreSQL store URL is not a valid URL: ${redactUrl(url)}`);
  }
  if (!/^postgres(ql)?:$/i.test(parsed.protocol)) {
    throw new Error(`PostgreSQL store URL must start with postgres:// (got ${redactUrl(url)})`);
  }
}

/** The password as written in the URL (or its `password=` parameter) and decoded: either may show up. */
function passwordForms(url: string): string[] {
  const forms: string[] = [];
  const raw = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(url)?.[1];
  if (raw) forms.push(raw, safeDecode(raw));
  const parameter = /[?&]password=([^&#]*)/i.exec(url)?.[1];
  if (parameter) forms.push(parameter, safeDecode(parameter.replace(/\+/g, ' ')));
  return [...new Set(forms)].filter((s) => s.length > 0);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
