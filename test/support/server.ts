import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { missingFor } from './requirements.js';
import { Crucible as ApiClient } from '../../src/client/index.js';

export const BIN = fileURLToPath(new URL('../../bin/crucible.js', import.meta.url));

export interface TestServer {
  readonly url: string;
  readonly client: ApiClient;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would, and wait. */
  crash(): Promise<void>;
}

export interface TestServerOptions {
  readonly dataDir?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
}

/** Starts the real server process (`bin/crucible.js serve`) on a free port with its own data directory. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'crucible-test-')));
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--rate-limit', '0', ...(options.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    client: new ApiClient(url),
    dataDir,
    process: child,
    log: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    crash: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function removeDataDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * One real server shared by a test file: started before its tests (and handed over through `receive`),
 * stopped and its data directory removed after them.
 *
 * @example
 * let server: TestServer;
 * useTestServer({ args: ['--concurrency', '2'] }, (s) => (server = s));
 */
export function useTestServer(options: TestServerOptions, receive: (server: TestServer) => void): void {
  // The file's tests are skipped with the reason (`describeSandboxed`): start no server that cannot sandbox.
  const isolation = options.args?.includes('gvisor') ? 'gvisor' : 'bwrap';
  if (!options.args?.includes('none') && missingFor(isolation) && !process.env['CI']) return;
  let started: TestServer | undefined;
  beforeAll(async () => {
    started = await startTestServer(options);
    receive(started);
  });
  afterAll(async () => {
    await started?.stop();
    if (started) await removeDataDir(started.dataDir);
  });
}
