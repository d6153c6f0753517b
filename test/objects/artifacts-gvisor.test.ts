import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Evaluation } from '../../src/core/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { describeSandboxed } from '../support/requirements.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describeSandboxed(
  'artifacts on the local gVisor sandbox',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'crucible-artifacts-gvisor-'));
    let world: InProcess;
    beforeAll(async () => {
      const sandbox = await createSandbox({
        isolation: 'gvisor',
        stateDir: join(dir, 'sandbox'),
        artifactsMb: 8,
      });
      world = await inProcess({
        runtime: createLocalRuntime(sandbox),
        objects: new DirectoryObjectStore(join(dir, 'objects')),
        defaultLimits: DEFAULT_LIMITS,
      });
    });
    afterAll(async () => {
      await world?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('stores a file written to /artifacts and never follows a symlink out of it', async () => {
      const app = await world.api();
      const code =
        "import os\nopen('/artifacts/out.json','w').write('{\"ok\": true}')\n" +
        "os.symlink('/etc/passwd', '/artifacts/passwd')\nprint('done')\n";
      const answer = await app.inject({
        method: 'POST',
        url: '/v1/evaluations?wait=120',
        payload: { language: 'python', code, timeoutSeconds: 60 },
      });
      const evaluation = answer.json() as Evaluation;
      expect(evaluation.status).toBe('succeeded');
      const json = Buffer.from('{"ok": true}');
      expect(evaluation.result?.artifacts).toEqual([
        { name: 'out.json', size: json.length, sha256: sha(json) },
      ]);
      expect(evaluation.result?.artifactsDropped).toEqual([
        { name: 'passwd', size: 0, reason: 'not_regular_file' },
      ]);
      const download = await app.inject({
        method: 'GET',
        url: `/v1/evaluations/${evaluation.id}/artifacts/out.json`,
      });
      expect(download.rawPayload).toEqual(json);
    });
  },
  'gvisor',
);
