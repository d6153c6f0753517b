import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CRUCIBLE_BIN = fileURLToPath(new URL('../../bin/crucible.js', import.meta.url));

export interface BenchServer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface BenchServerOptions {
  readonly sandbox: 'bwrap' | 'gvisor' | 'none';
  /** Extra `node` flags for the server process (e.g. `--cpu-prof`). */
  readonly nodeFlags?: readonly string[];
  /** Extra `crucible serve` flags. */
  readonly serveFlags?: readonly string[];
  /** Extra environment of the server (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly env?: Readonly<Record<string, string>>;
  /** A data directory prepared beforehand (kept); default: a new one, removed on stop. */
  readonly dataDir?: string;
}

/**
 * A real `crucible serve` process on a loopback port with a throw-away data directory, rate limit off, so
 * the benchmarks measure what a client of a default server sees.
 */
export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'crucible-bench-')));
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      CRUCIBLE_BIN,
      'serve',
      ...['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir],
      ...['--sandbox', options.sandbox, '--rate-limit', '0'],
      ...(options.serveFlags ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...options.env } },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr.on('data', (data: Buffer) => {
      seen += data.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(seen);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${seen}`)));
  }).catch(async (error: unknown) => {
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  });
  return {
    url,
    pid: child.pid ?? 0,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
