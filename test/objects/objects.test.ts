import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryObjectStore, openObjectStore, parseS3Url } from '../../src/objects/index.js';
import { describeObjectStoreConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'crucible-objects-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

describeObjectStoreConformance('directory', async () => new DirectoryObjectStore(join(dir, `d${++count}`)));

// S3 against s3rver (a real S3 wire protocol server) on a free port; each test its own bucket prefix.
let endpoint = '';
let stopS3: (() => Promise<void>) | undefined;
beforeAll(async () => {
  const { default: S3rver } = await import('s3rver');
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(dir, 's3rver'),
    configureBuckets: [{ name: 'crucible-test', configs: [] }],
  });
  const address = await server.run();
  endpoint = `http://127.0.0.1:${address.port}`;
  stopS3 = () => server.close();
});
afterAll(async () => stopS3?.());

process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';

describeObjectStoreConformance('s3 (s3rver)', async () =>
  openObjectStore({ url: `s3://crucible-test/run/t${++count}`, dataDir: dir, s3Endpoint: endpoint }),
);

describe('object store URLs', () => {
  it('parses s3://bucket[/prefix] and refuses anything else naming the form', () => {
    expect(parseS3Url('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Url('s3://my-bucket/a/b/')).toEqual({ bucket: 'my-bucket', prefix: 'a/b/' });
    expect(() => parseS3Url('s3://')).toThrow(/s3:\/\/BUCKET\[\/PREFIX\]/);
    expect(() => parseS3Url('s3://UPPER/x')).toThrow(/s3:\/\/BUCKET/);
  });

  it('defaults to <dataDir>/objects', async () => {
    const store = await openObjectStore({ dataDir: join(dir, 'data') });
    await store.put('x/y', Buffer.from('z'));
    expect((await store.list('')).map((o) => o.key)).toEqual(['x/y']);
    const again = new DirectoryObjectStore(join(dir, 'data', 'objects'));
    expect(await again.head('x/y')).toMatchObject({ size: 1 });
  });
});
