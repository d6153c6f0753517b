import pg from 'pg';

/** Where the benchmark's throw-away databases are created (env CRUCIBLE_BENCH_POSTGRES). */
const ADMIN_URL = process.env['CRUCIBLE_BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database for one benchmark, or null (with the reason logged) when no PostgreSQL answers. */
export async function createBenchDatabase(log: (line: string) => void): Promise<BenchDatabase | null> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    log(`replicas: skipped, no PostgreSQL at ${new URL(ADMIN_URL).host}: ${String(error)}`);
    return null;
  }
  const name = `crucible_bench_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const again = new pg.Client({ connectionString: ADMIN_URL });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.end();
    },
  };
}
