import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Crucible, type LogLine } from '../../src/client/index.js';
import { DEFAULT_BOUNDS, type Evaluation } from '../../src/core/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import { createKubernetesRuntime } from '../../src/runtime/kubernetes/index.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { FAST } from './harness.js';

const MiB = 1024 * 1024;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (l: LogLine) =>
  Buffer.from(l.data ?? l.base64 ?? '', l.data === undefined ? 'base64' : 'utf8');
/** 3 MiB of numbered 64-byte lines, then `done` on stderr. */
const PROGRAM = `
import sys
for start in range(0, 49152, 4096):
    sys.stdout.write(''.join('%08d %s\\n' % (i, 'x' * 54) for i in range(start, start + 4096)))
sys.stdout.flush()
print('done', file=sys.stderr)
`;
const expected = Buffer.from(
  Array.from({ length: 49152 }, (_, i) => `${String(i).padStart(8, '0')} ${'x'.repeat(54)}\n`).join(''),
);
const spillDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith('crucible-log-'));

describe('maxLogBytes on Kubernetes (fake cluster, real runner)', () => {
  let cluster: FakeCluster;
  let world: InProcess;
  const dir = mkdtempSync(join(tmpdir(), 'crucible-k8s-long-logs-'));

  beforeAll(async () => {
    cluster = await startFakeCluster();
    cluster.server.faults.bookmarkIntervalMs = 150;
    const runtime = await createKubernetesRuntime({ ...FAST, kubeconfigPath: cluster.kubeconfigPath });
    world = await inProcess({
      runtime,
      objects: new DirectoryObjectStore(join(dir, 'objects')),
      bounds: { ...DEFAULT_BOUNDS, maxLogMb: 8 },
    });
  });
  afterAll(async () => {
    await world?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the runner passes the larger cap, and 3 MiB of stdout is read back whole through the SDK', async () => {
    const before = spillDirs();
    const app = await world.api();
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?wait=60',
      payload: { language: 'python', code: PROGRAM, maxLogBytes: 4 * MiB },
    });
    const evaluation = submitted.json() as Evaluation;
    expect(evaluation.status).toBe('succeeded');
    expect(evaluation.result).toMatchObject({
      stdoutTruncated: false,
      logSpill: { stdout: 2 * MiB, stderr: 0 },
    });
    const client = new Crucible(await app.listen({ host: '127.0.0.1', port: 0 }));
    const stdout: Buffer[] = [];
    for await (const line of client.logs(evaluation.id, { stream: 'stdout' })) stdout.push(bytesOf(line));
    expect(sha(Buffer.concat(stdout))).toBe(sha(expected));
    // The temp files are gone once the result is stored.
    expect(spillDirs().filter((name) => !before.includes(name))).toEqual([]);
  });
});
