import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryObjectStore } from '../../../src/objects/index.js';
import type { SandboxRuntime } from '../../../src/runtime/sandbox/sandbox-runtime.js';
import { SYSTEM_CALLER } from '../../../src/service/caller.js';
import { SandboxService } from '../../../src/service/sandboxes.js';
import { createSqliteStore } from '../../../src/store/sqlite/index.js';
import type { EvaluationStore, SandboxStore } from '../../../src/store/store.js';
import { podsOf, skipReason, startKubeSandboxes, type KubeSandboxEnv } from './harness.js';

let env: KubeSandboxEnv;
let store: EvaluationStore;
let objectsDir: string;
beforeAll(async () => {
  if (skipReason) return;
  env = await startKubeSandboxes();
  store = createSqliteStore({ path: ':memory:' });
  await store.migrate();
  objectsDir = await mkdtemp(join(tmpdir(), 'k8s-takeover-objects-'));
}, 60_000);
afterAll(async () => {
  await env?.close();
  await store?.close();
  if (objectsDir) await rm(objectsDir, { recursive: true, force: true });
});

const service = (runtime: SandboxRuntime) =>
  new SandboxService({
    store: store.sandboxes as SandboxStore,
    runtime,
    objects: new DirectoryObjectStore(objectsDir),
    log: { info: () => undefined, warn: () => undefined },
    sweepIntervalMs: 3_600_000,
    replica: {
      id: 'replica-1',
      directory: {
        liveReplica: (r) => store.liveReplica!(r),
        advertiseReplica: (r, url) => store.advertiseReplica!(r, url),
      },
    },
  });

describe.skipIf(skipReason !== null)('taking over a Kubernetes sandbox after a crash', () => {
  it('adopts the running pod: the workspace written after the last snapshot is kept, no second pod', async () => {
    const crashed = service(await env.another());
    await crashed.start();
    const { id } = await crashed.create(SYSTEM_CALLER, {});
    await crashed.writeFile(SYSTEM_CALLER, id, 'never-hibernated.txt', Buffer.from('kept in the pod\n'));
    // The server dies: its pods stay (nothing hibernated them), its records still say it owns them.
    const restarted = service(await env.another());
    await restarted.start();
    try {
      expect(await restarted.get(SYSTEM_CALLER, id)).toMatchObject({ status: 'ready', error: null });
      const text = await restarted.readFile(SYSTEM_CALLER, id, 'never-hibernated.txt');
      expect(text.toString()).toBe('kept in the pod\n');
      expect(podsOf(env.cluster, id)).toHaveLength(1);
    } finally {
      await restarted.terminate(SYSTEM_CALLER, id);
    }
  }, 60_000);
});
