import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { defaultAgentBinary } from '../../src/runtime/local/sandboxes/agent-launcher.js';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import { SYSTEM_CALLER } from '../../src/service/caller.js';
import { CHECKPOINT_KEY } from '../../src/service/sandboxes-checkpoint.js';
import { SandboxService } from '../../src/service/sandboxes.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { EvaluationStore, SandboxStore } from '../../src/store/store.js';

const skip = !existsSync('/usr/bin/runsc')
  ? 'runsc (gVisor) is not installed'
  : !existsSync(defaultAgentBinary())
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

const log = { info: () => undefined, warn: () => undefined };

describe.skipIf(skip !== null)(
  'gVisor hibernation keeps running processes (runsc checkpoint/restore)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'crucible-gvisor-hibernate-'));
    const objects = new DirectoryObjectStore(join(dir, 'objects'));
    let store: EvaluationStore;
    let sandboxes: SandboxService;
    beforeAll(async () => {
      store = createSqliteStore({ path: join(dir, 'store.db') });
      await store.migrate();
      sandboxes = new SandboxService({
        store: store.sandboxes as SandboxStore,
        runtime: await createLocalSandboxRuntime({
          isolation: 'gvisor',
          stateDir: join(dir, 'gvisor'),
          warmPoolSize: 0,
        }),
        objects,
        log,
        sweepIntervalMs: 3_600_000,
      });
      await sandboxes.start();
    }, 60_000);
    afterAll(async () => {
      await sandboxes?.close();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const sh = async (id: string, script: string) => {
      const handle = await sandboxes.exec(SYSTEM_CALLER, id, { command: ['/bin/sh', '-c', script] });
      return (await handle.capture!.done).exit?.exitCode;
    };
    const counter = async (id: string) =>
      Number((await sandboxes.readFile(SYSTEM_CALLER, id, 'counter')).toString());

    it('resumes with the same background process still counting, and the image used once', async () => {
      const { id } = await sandboxes.create(SYSTEM_CALLER, { files: [{ path: 'kept', content: 'yes' }] });
      const loop = 'i=0; while :; do i=$((i+1)); echo $i > counter; sleep 0.05; done';
      expect(await sh(id, `(${loop}) >/dev/null 2>&1 & echo $! > pid`)).toBe(0);
      expect(await sh(id, 'while [ ! -s counter ]; do sleep 0.05; done')).toBe(0);
      await sandboxes.hibernate(SYSTEM_CALLER, id);
      expect((await sandboxes.get(SYSTEM_CALLER, id)).status).toBe('hibernated');
      expect(await objects.get(CHECKPOINT_KEY(id))).not.toBeNull();
      const atResume = await counter(id); // resumes
      expect((await sandboxes.get(SYSTEM_CALLER, id)).status).toBe('ready');
      expect(await objects.get(CHECKPOINT_KEY(id))).toBeNull();
      // The same process (its pid recorded before hibernation) is alive and still counting.
      expect(await sh(id, 'kill -0 "$(cat pid)"')).toBe(0);
      expect(await sh(id, `while [ "$(cat counter)" -le ${atResume} ]; do sleep 0.05; done`)).toBe(0);
      expect((await sandboxes.readFile(SYSTEM_CALLER, id, 'kept')).toString()).toBe('yes');
      await sandboxes.terminate(SYSTEM_CALLER, id);
    }, 60_000);

    it('falls back to the workspace archive when the image cannot be restored', async () => {
      const { id } = await sandboxes.create(SYSTEM_CALLER, {});
      expect(await sh(id, '(sleep 600) >/dev/null 2>&1 & echo $! > pid; echo 7 > counter')).toBe(0);
      await sandboxes.hibernate(SYSTEM_CALLER, id);
      await objects.put(CHECKPOINT_KEY(id), Buffer.from('not a tar of a checkpoint image'));
      expect(await counter(id)).toBe(7);
      expect(await sh(id, 'kill -0 "$(cat pid)" 2>/dev/null')).not.toBe(0);
      expect(await objects.get(CHECKPOINT_KEY(id))).toBeNull();
      await sandboxes.terminate(SYSTEM_CALLER, id);
    }, 60_000);

    it('takes no checkpoint of an idle sandbox: the archive holds all of it', async () => {
      const { id } = await sandboxes.create(SYSTEM_CALLER, { files: [{ path: 'kept', content: 'idle' }] });
      await sandboxes.hibernate(SYSTEM_CALLER, id);
      expect(await objects.get(CHECKPOINT_KEY(id))).toBeNull();
      expect((await sandboxes.readFile(SYSTEM_CALLER, id, 'kept')).toString()).toBe('idle');
      await sandboxes.terminate(SYSTEM_CALLER, id);
    }, 60_000);
  },
);
