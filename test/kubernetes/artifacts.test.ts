import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Evaluation } from '../../src/core/index.js';
import { DirectoryObjectStore } from '../../src/objects/index.js';
import {
  buildEvaluationManifests,
  createKubernetesRuntime,
  parseKubernetesOptions,
} from '../../src/runtime/kubernetes/index.js';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import type { CollectedFile } from '../../src/runtime/artifacts.js';
import { ArtifactFrames } from '../../src/runtime/kubernetes/artifact-frames.js';
import { FrameDecoder } from '../../src/runtime/kubernetes/frames.js';
import type { KubeApi } from '../../src/runtime/kubernetes/kube-client.js';
import { LogCollector } from '../../src/runtime/kubernetes/log-collector.js';
import { Readable } from 'node:stream';
import { FAST, jobsGone, request } from './harness.js';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A PNG, a JSON in a subdirectory, links out of /artifacts (a file, the code, a directory), one over 1 MiB. */
const PROGRAM = `
import base64, json, os
os.makedirs('/artifacts/results', exist_ok=True)
open('/artifacts/plot.png', 'wb').write(base64.b64decode('${PNG.toString('base64')}'))
json.dump({'accuracy': 0.93}, open('/artifacts/results/metrics.json', 'w'))
os.symlink('/etc/passwd', '/artifacts/passwd')
os.symlink('/tmp/crucible/main.py', '/artifacts/code.py')
os.symlink('/etc', '/artifacts/results/etc')
os.mkfifo('/artifacts/fifo')
open('/artifacts/zz-big.bin', 'wb').write(os.urandom(1536 * 1024))
print('done')
`;

describe('artifacts on Kubernetes: the runner streams /artifacts before its exit frame (fake cluster, real runner)', () => {
  let cluster: FakeCluster;
  let world: InProcess;
  let objects: DirectoryObjectStore;
  const dir = mkdtempSync(join(tmpdir(), 'crucible-k8s-artifacts-'));

  beforeAll(async () => {
    cluster = await startFakeCluster();
    cluster.server.faults.bookmarkIntervalMs = 150;
    objects = new DirectoryObjectStore(join(dir, 'objects'));
    const runtime = await createKubernetesRuntime({ ...FAST, kubeconfigPath: cluster.kubeconfigPath });
    world = await inProcess({ runtime, objects });
  });
  afterAll(async () => {
    await world?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(code: string, extra: Record<string, unknown> = {}): Promise<Evaluation> {
    const app = await world.api();
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?wait=60',
      payload: { language: 'python', code, ...extra },
    });
    expect(submitted.statusCode).toBe(202);
    return submitted.json() as Evaluation;
  }

  it('the pod has a writable /artifacts and the runner is told the submission’s cap', () => {
    const options = parseKubernetesOptions({ namespace: 'evals' });
    const { job } = buildEvaluationManifests(request('print(1)', { limits: { artifactsMb: 3 } }), options);
    const pod = job.spec!.template.spec!;
    const command = pod.containers[0]!.command!;
    expect(command[command.indexOf('--artifacts') + 1]).toBe('/artifacts');
    expect(command[command.indexOf('--artifacts-max') + 1]).toBe(String(3 * 1024 * 1024));
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'artifacts', mountPath: '/artifacts' });
    expect(pod.volumes).toContainEqual({ name: 'artifacts', emptyDir: { sizeLimit: '67Mi' } });
  });

  it('stores the PNG and the JSON byte-identical, follows no link, drops and reports the one over the cap', async () => {
    const evaluation = await run(PROGRAM, { artifactsMb: 1 });
    expect(evaluation.status).toBe('succeeded');
    const json = Buffer.from(JSON.stringify({ accuracy: 0.93 }).replace(':', ': '));
    expect(evaluation.result?.artifacts).toEqual([
      { name: 'plot.png', size: PNG.length, sha256: sha(PNG) },
      { name: 'results/metrics.json', size: json.length, sha256: sha(json) },
    ]);
    expect(evaluation.result?.artifactsDropped).toEqual([
      { name: 'code.py', size: 0, reason: 'not_regular_file' },
      { name: 'fifo', size: 0, reason: 'not_regular_file' },
      { name: 'passwd', size: 0, reason: 'not_regular_file' },
      { name: 'results/etc', size: 0, reason: 'not_regular_file' },
      { name: 'zz-big.bin', size: 1536 * 1024, reason: 'over_cap' },
    ]);
    const app = await world.api();
    const png = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/artifacts/plot.png`,
    });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload).toEqual(PNG);
    const metrics = await app.inject({
      method: 'GET',
      url: `/v1/evaluations/${evaluation.id}/artifacts/results/metrics.json`,
    });
    expect(metrics.rawPayload).toEqual(json);
    // Only the two files reached the object store: no link target was read.
    expect((await objects.list(`evaluations/${evaluation.id}/`)).map((o) => o.key)).toEqual([
      `evaluations/${evaluation.id}/artifacts/plot.png`,
      `evaluations/${evaluation.id}/artifacts/results/metrics.json`,
    ]);
    // The output framed before the artifacts is intact, and the Job went once the result was stored.
    const logs = await app.inject({ method: 'GET', url: `/v1/evaluations/${evaluation.id}` });
    expect(logs.json().result.stdout).toBe('done\n');
    expect(await jobsGone(cluster)).toBe(true);
  });

  it('a 9 MiB and a 6 MiB artifact streamed through the pod log arrive whole (the reader waits for the store)', async () => {
    const evaluation = await run(
      "b = bytes(range(256)); open('/artifacts/a-model.bin', 'wb').write(b * (9 * 4096)); " +
        "open('/artifacts/b-more.bin', 'wb').write(b[::-1] * (6 * 4096)); print('ok')",
      { artifactsMb: 16 },
    );
    expect(evaluation.status).toBe('succeeded');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const first = Buffer.concat(Array.from({ length: 9 * 4096 }, () => bytes));
    const second = Buffer.concat(Array.from({ length: 6 * 4096 }, () => Buffer.from(bytes).reverse()));
    expect(evaluation.result?.artifacts).toEqual([
      { name: 'a-model.bin', size: first.length, sha256: sha(first) },
      { name: 'b-more.bin', size: second.length, sha256: sha(second) },
    ]);
  });
  it('a graded C run keeps each test’s files under tests/<n>/, empties /artifacts between tests, one cap', async () => {
    // Each test writes r.txt and a 600 KiB file; the first also links to /etc/passwd. With a 1 MiB cap
    // across the run, the second test's big file no longer fits.
    const code = `#include <stdio.h>
#include <string.h>
#include <unistd.h>
static char big[600 * 1024];
int main(void) {
  char v[16] = {0};
  if (scanf("%15s", v) != 1) return 3;
  FILE *f = fopen("/artifacts/r.txt", "w");
  fputs(v, f);
  fclose(f);
  memset(big, v[0], sizeof big);
  f = fopen("/artifacts/big.bin", "w");
  fwrite(big, 1, sizeof big, f);
  fclose(f);
  if (strcmp(v, "one") == 0 && symlink("/etc/passwd", "/artifacts/link") != 0) return 4;
  puts(v);
  return 0;
}`;
    const evaluation = await run(code, {
      language: 'c',
      artifactsMb: 1,
      tests: [
        { stdin: 'one', expectedStdout: 'one\n' },
        { stdin: 'two', expectedStdout: 'two\n' },
      ],
    });
    expect(evaluation.status).toBe('succeeded');
    const big = Buffer.alloc(600 * 1024, 'o');
    expect(evaluation.result?.artifacts).toEqual([
      { name: 'tests/1/big.bin', size: big.length, sha256: sha(big) },
      { name: 'tests/1/r.txt', size: 3, sha256: sha(Buffer.from('one')) },
      { name: 'tests/2/r.txt', size: 3, sha256: sha(Buffer.from('two')) },
    ]);
    // The link is reported, not followed; the second test did not see the first one's files.
    expect(evaluation.result?.artifactsDropped).toEqual([
      { name: 'tests/1/link', size: 0, reason: 'not_regular_file' },
      { name: 'tests/2/big.bin', size: big.length, reason: 'over_cap' },
    ]);
    const app = await world.api();
    for (const [n, text] of [
      [1, 'one'],
      [2, 'two'],
    ] as const) {
      const listed = await app.inject({ method: 'GET', url: `/v1/evaluations/${evaluation.id}/artifacts` });
      expect(listed.json().items.map((i: { name: string }) => i.name)).toContain(`tests/${n}/r.txt`);
      const file = await app.inject({
        method: 'GET',
        url: `/v1/evaluations/${evaluation.id}/artifacts/tests/${n}/r.txt`,
      });
      expect(file.statusCode).toBe(200);
      expect(file.rawPayload).toEqual(Buffer.from(text));
    }
    expect((await objects.list(`evaluations/${evaluation.id}/`)).map((o) => o.key)).toEqual(
      ['tests/1/big.bin', 'tests/1/r.txt', 'tests/2/r.txt'].map(
        (name) => `evaluations/${evaluation.id}/artifacts/${name}`,
      ),
    );
    expect(await jobsGone(cluster)).toBe(true);
  });
});

describe('artifact frames', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const read = async (file: CollectedFile) => {
    const parts: Buffer[] = [];
    for await (const part of file.body!) parts.push(part as Buffer);
    return Buffer.concat(parts).toString();
  };

  it('decode files, dropped entries and the end at the exit frame, once each across a re-read', async () => {
    const files: CollectedFile[] = [];
    const frames = new ArtifactFrames((file) => files.push(file));
    const decoder = new FrameDecoder(() => undefined, undefined, frames);
    const log = [
      `o 1 ${b64('hi\n')}`,
      `a 2 ${b64('a/b.txt')} 5`,
      `d 3 ${b64('hel')}`,
      `d 4 ${b64('lo')}`,
      `A 5 ${b64('link')} 0 not_regular_file`,
      `A 6 ${b64('big')} 9999 over_cap`,
      'x 7 0 - 0 - -',
    ].map((frame, i) => `2026-01-01T00:00:0${i}.000Z ${frame}\n`);
    decoder.push(Buffer.from(log.join('')));
    decoder.push(Buffer.from(log.join('')));
    expect(files.map((f) => [f.name, f.kind, f.size])).toEqual([
      ['a/b.txt', 'file', 5],
      ['link', 'dropped', 0],
      ['big', 'dropped', 9999],
    ]);
    expect(await read(files[0]!)).toBe('hello');
    expect(files[2]).toMatchObject({ reason: 'over_cap' });
  });

  it('make the log reader wait while more than 8 MiB is unread, and let it go once the store reads', async () => {
    const files: CollectedFile[] = [];
    const frames = new ArtifactFrames((file) => files.push(file));
    const chunk = Buffer.alloc(6 * 1024 * 1024, 1).toString('base64');
    frames.frame('a', `${b64('one.bin')} ${6 * 1024 * 1024}`);
    frames.frame('d', chunk);
    await frames.settled(); // 6 MiB unread: below the bound
    frames.frame('a', `${b64('two.bin')} ${6 * 1024 * 1024}`);
    frames.frame('d', chunk);
    let released = false;
    const waiting = frames.settled().then(() => (released = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toBe(false);
    expect((await read(files[0]!)).length).toBe(6 * 1024 * 1024);
    await waiting;
    expect(released).toBe(true);
    frames.abandon();
    expect((await read(files[1]!)).length).toBe(6 * 1024 * 1024);
  });

  it('fail a file the log ends inside, so it is never stored as if whole', async () => {
    const files: CollectedFile[] = [];
    const frames = new ArtifactFrames((file) => files.push(file));
    frames.frame('a', `${b64('cut.bin')} 10`);
    frames.frame('d', b64('1234'));
    frames.close();
    await expect(read(files[0]!)).rejects.toThrow(/4 of 10 bytes/);
  });
});

describe('the log grace after the container ended', () => {
  it('counts from the last progress: a long artifact backlog is read to its end, a silent log is given up', async () => {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const frame = (seq: number, body: string) =>
      Buffer.from(`2026-01-01T00:00:00.${String(seq).padStart(3, '0')}Z ${body}\n`);
    // 60 data frames 10 ms apart (600 ms in all) against a 200 ms grace, then the exit frame.
    const slowLog = () =>
      Readable.from(
        (async function* () {
          yield frame(1, `a 1 ${b64('slow.bin')} 60`);
          for (let i = 0; i < 60; i++) {
            await new Promise((resolve) => setTimeout(resolve, 10));
            yield frame(i + 2, `d ${i + 2} ${b64('x')}`);
          }
          yield frame(62, 'x 62 0 - 0 - -');
        })(),
      );
    const silentLog = () => new Readable({ read() {} });
    for (const [log, complete] of [
      [slowLog, true],
      [silentLog, false],
    ] as const) {
      const files: CollectedFile[] = [];
      const api = { log: async () => log() } as unknown as KubeApi;
      const collector = new LogCollector(api, 'pod', () => undefined, {
        retryMs: 10,
        graceMs: 200,
        warn: () => undefined,
        artifact: (file) => files.push(file),
      });
      collector.start();
      const result = await collector.finish();
      expect(result.complete).toBe(complete);
      if (complete) expect(files.map((f) => [f.name, f.size])).toEqual([['slow.bin', 60]]);
    }
  });
});
