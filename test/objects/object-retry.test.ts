import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, DEFAULT_BOUNDS, type Evaluation } from '../../src/core/index.js';
import {
  DirectoryObjectStore,
  openObjectStore,
  isTransientObjectError,
  putRetried,
  type ObjectRetryPolicy,
} from '../../src/objects/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { FlakyObjectStore, storeError } from '../support/flaky-objects.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { describeSandboxed } from '../support/requirements.js';

const FAST: ObjectRetryPolicy = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const dir = mkdtempSync(join(tmpdir(), 'crucible-object-retry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function read(store: DirectoryObjectStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of (await store.get(key))!) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe('object writes retried with backoff', () => {
  it('tells transient errors from final ones', () => {
    expect(isTransientObjectError(storeError('ECONNRESET'))).toBe(true);
    expect(isTransientObjectError({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isTransientObjectError({ name: 'InternalError', $metadata: { httpStatusCode: 500 } })).toBe(true);
    expect(isTransientObjectError(new Error('x', { cause: storeError('ETIMEDOUT') }))).toBe(true);
    expect(isTransientObjectError(storeError('ENOSPC'))).toBe(false);
    expect(isTransientObjectError({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isTransientObjectError(new Error('invalid object key'))).toBe(false);
  });

  it('repeats a put from a fresh stream after transient failures; gives up on a final error at once', async () => {
    const inner = new DirectoryObjectStore(join(dir, 'unit'));
    const flaky = new FlakyObjectStore(inner);
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    flaky.failPuts(
      (key) => key === 'a/b',
      2,
      () => storeError('ECONNRESET'),
    );
    const retried: number[] = [];
    await putRetried(
      flaky,
      'a/b',
      () => Readable.from([body.subarray(0, 1000), body.subarray(1000)]),
      {},
      FAST,
      (_e, n) => retried.push(n),
    );
    expect(retried).toEqual([1, 2]);
    expect(sha(await read(inner, 'a/b'))).toBe(sha(body));

    flaky.failPuts(
      (key) => key === 'a/full',
      Infinity,
      () => storeError('ENOSPC'),
    );
    await expect(putRetried(flaky, 'a/full', body, {}, FAST)).rejects.toThrow('injected ENOSPC');
    expect(flaky.attempts.filter((key) => key === 'a/full')).toHaveLength(1);

    flaky.failPuts(
      (key) => key === 'a/down',
      Infinity,
      () => storeError('ECONNREFUSED'),
    );
    await expect(putRetried(flaky, 'a/down', body, {}, FAST)).rejects.toThrow('injected ECONNREFUSED');
    expect(flaky.attempts.filter((key) => key === 'a/down')).toHaveLength(FAST.attempts);
  });
});

describe('object writes to S3 (s3rver) retried across a restart of the service', () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  const start = async (port: number) => {
    const { default: S3rver } = await import('s3rver');
    const server = new S3rver({
      port,
      address: '127.0.0.1',
      silent: true,
      directory: join(dir, 's3rver'),
      configureBuckets: [{ name: 'crucible-retry', configs: [] }],
    });
    const address = await server.run();
    return { server, port: address.port };
  };

  it('a put while the service is down succeeds once it is back; a missing bucket is not retried', async () => {
    const first = await start(0);
    const port = first.port;
    let server = first.server;
    const endpoint = `http://127.0.0.1:${port}`;
    const store = await openObjectStore({ url: 's3://crucible-retry/p', dataDir: dir, s3Endpoint: endpoint });
    const missing = await openObjectStore({
      url: 's3://no-such-bucket/p',
      dataDir: dir,
      s3Endpoint: endpoint,
    });
    try {
      await server.close();
      const body = Buffer.alloc(64 * 1024, 3);
      const failures: unknown[] = [];
      await putRetried(store, 'a/b', body, {}, { attempts: 8, baseDelayMs: 50, maxDelayMs: 200 }, (error) => {
        failures.push(error);
        // Back after the first failed attempt, on the same port.
        if (failures.length === 1) void start(port).then((again) => (server = again.server));
      });
      expect(failures.length).toBeGreaterThanOrEqual(1);
      expect(failures.every(isTransientObjectError)).toBe(true);
      const parts: Buffer[] = [];
      for await (const part of (await store.get('a/b'))!) parts.push(part as Buffer);
      expect(Buffer.concat(parts)).toEqual(body);
      let attempts = 0;
      await expect(putRetried(missing, 'x', body, {}, FAST, () => (attempts += 1))).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
      expect(attempts).toBe(0);
    } finally {
      await store.close();
      await missing.close();
      await server.close();
    }
  }, 60_000);
});

describeSandboxed('artifacts and long logs on a failing object store (real bwrap)', () => {
  let world: InProcess;
  let inner: DirectoryObjectStore;
  let flaky: FlakyObjectStore;

  beforeAll(async () => {
    inner = new DirectoryObjectStore(join(dir, 'objects'));
    flaky = new FlakyObjectStore(inner);
    const sandbox = await createSandbox({
      isolation: 'bwrap',
      stateDir: join(dir, 'sandbox'),
      artifactsMb: 16,
    });
    world = await inProcess({
      runtime: createLocalRuntime(sandbox),
      objects: flaky,
      objectRetry: FAST,
      bounds: { ...DEFAULT_BOUNDS, maxLogMb: 8 },
      defaultLimits: { ...DEFAULT_LIMITS, artifactsMb: 16 },
    });
  });
  afterAll(async () => {
    await world?.close();
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

  it('stores every artifact and the spilled log byte-identical through two failures each', async () => {
    flaky.failPuts(
      (key) => key.includes('/artifacts/') || key.includes('/logs/'),
      2,
      () => storeError('ECONNRESET'),
    );
    const evaluation = await run(
      `
import os, sys
open('/artifacts/small.txt', 'w').write('small')
open('/artifacts/big.bin', 'wb').write(bytes(range(256)) * 12288)
sys.stdout.write('y' * (2 * 1024 * 1024))
`,
      { maxLogBytes: 3 * 1024 * 1024 },
    );
    expect(evaluation.status).toBe('succeeded');
    const big = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      .toString('latin1')
      .repeat(12288);
    expect(evaluation.result?.artifacts).toEqual([
      { name: 'big.bin', size: big.length, sha256: sha(Buffer.from(big, 'latin1')) },
      { name: 'small.txt', size: 5, sha256: sha(Buffer.from('small')) },
    ]);
    expect(evaluation.result?.artifactsDropped).toBeUndefined();
    expect(evaluation.result).toMatchObject({ stdoutTruncated: false, logSpill: { stdout: 1024 * 1024 } });
    expect(await read(inner, `evaluations/${evaluation.id}/artifacts/big.bin`)).toEqual(
      Buffer.from(big, 'latin1'),
    );
    expect(await read(inner, `evaluations/${evaluation.id}/logs/stdout`)).toEqual(
      Buffer.alloc(1024 * 1024, 'y'),
    );
    // Each of the three objects took three attempts.
    expect(flaky.attempts.filter((key) => key.startsWith(`evaluations/${evaluation.id}/`))).toHaveLength(9);
    expect(
      world.log.lines.some((l) => l.level === 'warn' && /big\.bin .*attempt 2.*retrying/.test(l.message)),
    ).toBe(true);
  });

  it('reports an artifact the store refuses for good as store_failed, and the run keeps its status', async () => {
    flaky.failPuts(
      (key) => key.endsWith('/artifacts/refused.txt'),
      Infinity,
      () => storeError('ENOSPC'),
    );
    flaky.failPuts(
      (key) => key.includes('/logs/'),
      Infinity,
      () => storeError('ECONNREFUSED'),
    );
    const evaluation = await run(
      `
import sys
open('/artifacts/kept.txt', 'w').write('kept')
open('/artifacts/refused.txt', 'w').write('refused')
sys.stdout.write('z' * (1024 * 1024 + 10))
`,
      { maxLogBytes: 2 * 1024 * 1024 },
    );
    expect(evaluation.status).toBe('succeeded');
    expect(evaluation.result?.artifacts?.map((a) => a.name)).toEqual(['kept.txt']);
    expect(evaluation.result?.artifactsDropped).toEqual([
      { name: 'refused.txt', size: 7, reason: 'store_failed' },
    ]);
    // The spilled log could not be stored: the stream is truncated, as it would be without maxLogBytes.
    expect(evaluation.result?.stdoutTruncated).toBe(true);
    expect(evaluation.result?.logSpill).toBeUndefined();
  });
});
