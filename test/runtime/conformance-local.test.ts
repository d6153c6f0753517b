import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { describeSandboxed } from '../support/requirements.js';
import { runtimeConformance } from './conformance.js';

/** The runtime conformance suite against the local runtime in the bwrap sandbox (root, cgroup v1). */
runtimeConformance(
  'local (bwrap)',
  async () => {
    const stateDirs: string[] = [];
    const localRuntime = async (): Promise<Runtime> => {
      const stateDir = await mkdtemp(join(tmpdir(), 'crucible-conformance-'));
      stateDirs.push(stateDir);
      return createLocalRuntime(await createSandbox({ isolation: 'bwrap', stateDir, warn: () => undefined }));
    };
    const runtime = await localRuntime();
    return {
      runtime,
      createRuntime: localRuntime,
      afterRestart: 'lost',
      enforcesMemory: true,
      // A local run holds nothing but its processes, which the suite checks itself.
      released: async () => undefined,
      async close() {
        await runtime.close();
        await Promise.all(stateDirs.map((dir) => rm(dir, { recursive: true, force: true })));
      },
    };
  },
  describeSandboxed,
);
