import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { buildApi, StreamLimiter } from '../../src/api/index.js';
import { DEFAULT_BOUNDS } from '../../src/core/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { defaultAgentBinary } from '../../src/runtime/local/sandboxes/agent-launcher.js';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import type { SandboxRuntime } from '../../src/runtime/sandbox/sandbox-runtime.js';
import { SandboxService } from '../../src/service/sandboxes.js';
import type { EvaluationStore, SandboxStore } from '../../src/store/store.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

/** Why the local sandbox cannot run here, or null. */
export const LOCAL_SANDBOX_MISSING = !existsSync('/usr/bin/bwrap')
  ? 'bwrap is not installed'
  : !existsSync(defaultAgentBinary())
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

export interface SandboxHarness {
  readonly app: FastifyInstance;
  readonly sandboxes: SandboxService;
  readonly store: SandboxStore;
  readonly objectsDir: string;
  readonly core: InProcess;
  close(): Promise<void>;
}

/** The real API, service, store, object store and local bwrap runtime, in this process. */
export async function sandboxHarness(
  options: {
    store?: EvaluationStore;
    runtime?: SandboxRuntime;
    authRequired?: boolean;
    adminToken?: string;
    sweepIntervalMs?: number;
  } = {},
): Promise<SandboxHarness> {
  const core = await inProcess({
    runtime: new FakeRuntime(),
    ...(options.store ? { store: options.store } : {}),
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
  });
  const objectsDir = mkdtempSync(join(tmpdir(), 'crucible-sbx-objects-'));
  const store = core.store.sandboxes as SandboxStore;
  const sandboxes = new SandboxService({
    store,
    ...(core.store.projects ? { projects: core.store.projects } : {}),
    runtime: options.runtime ?? (await createLocalSandboxRuntime({ warmPoolSize: 1 })),
    objects: new DirectoryObjectStore(objectsDir),
    log: core.log,
    sweepIntervalMs: options.sweepIntervalMs ?? 60_000,
  });
  await sandboxes.start();
  const streams = new StreamLimiter(100, 50);
  const app = await buildApi({
    service: core.service,
    bounds: DEFAULT_BOUNDS,
    metrics: createMetrics(
      core.bus,
      () => core.service.queueStats(),
      () => streams.open,
    ),
    isReady: () => true,
    rateLimitPerMinute: 0,
    streams,
    log: core.log,
    version: '0.0.0-test',
    authRequired: options.authRequired ?? false,
    sandboxes,
  });
  return {
    app,
    sandboxes,
    store,
    objectsDir,
    core,
    async close() {
      await app.close();
      await sandboxes.close();
      await core.close();
      rmSync(objectsDir, { recursive: true, force: true });
    },
  };
}

/** NDJSON lines of a body. */
export function ndjson(body: string): Record<string, unknown>[] {
  return body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A PTY WebSocket of the API: its screen, keys, and a wait for text to show up on it. */
export async function openPty(base: string, id: string, query = '') {
  const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/sandboxes/${id}/pty${query}`);
  let screen = '';
  const waiters = new Set<() => void>();
  socket.on('message', (data, binary) => {
    if (binary) screen += (data as Buffer).toString('utf8');
    waiters.forEach((w) => w());
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return {
    socket,
    screen: () => screen,
    type: (text: string) => socket.send(Buffer.from(text), { binary: true }),
    until: (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => screen.includes(text) && (waiters.delete(check), resolve());
        waiters.add(check);
        check();
      }),
    close: () => new Promise((resolve) => (socket.once('close', resolve), socket.close())),
  };
}
