import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { webhookServer, type SenderOptions } from './harness.js';

type Server = Awaited<ReturnType<typeof webhookServer>>;
let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Resolves names as the test says; anything else does not exist. */
const names: Record<string, string> = {
  'localhost.example': '127.0.0.1',
  'intranet.example': '10.1.2.3',
  'mixed.example': '93.184.215.14',
};
const lookup: SenderOptions['lookup'] = async (host) => {
  if (host === 'mixed.example')
    return [
      { address: '93.184.215.14', family: 4 },
      { address: '192.168.0.7', family: 4 },
    ];
  const address = names[host];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

async function post(webhook: unknown) {
  const app = await server!.api();
  const response = await app.inject({
    method: 'POST',
    url: '/v1/evaluations',
    payload: { language: 'python', code: 'print(1)', webhook },
  });
  return {
    status: response.statusCode,
    error: response.json<{ error?: { field: string; message: string } }>().error,
  };
}

async function stored(): Promise<number> {
  return (await server!.service.list({ limit: 10 })).items.length;
}

describe('a submission with a webhook', () => {
  it('is refused with 400 naming webhook when the server has no signing secret', async () => {
    server = await webhookServer(createSqliteStore({ path: ':memory:' }), null);
    const { status, error } = await post({ url: 'https://hooks.example.com/x' });
    expect(status).toBe(400);
    expect(error?.field).toBe('webhook');
    expect(error?.message).toMatch(/--webhook-secret/);
    expect(await stored()).toBe(0);
  });

  it.each([
    [{ url: 'ftp://hooks.example.com/x' }, 'webhook.url'],
    [{ url: 'hooks.example.com/x' }, 'webhook.url'],
    [{ url: `https://hooks.example.com/${'a'.repeat(2100)}` }, 'webhook.url'],
    [{ url: 42 }, 'webhook.url'],
    [{ url: 'https://hooks.example.com/x', secret: 'no' }, 'webhook.secret'],
    ['https://hooks.example.com/x', 'webhook'],
  ])('is refused with 400 when malformed: %j', async (webhook, field) => {
    server = await webhookServer(createSqliteStore({ path: ':memory:' }), { lookup });
    const { status, error } = await post(webhook);
    expect(status).toBe(400);
    expect(error?.field).toBe(field);
    expect(await stored()).toBe(0);
  });

  it.each([
    ['http://127.0.0.1:8080/hook', /loopback address \(127\.0\.0\.1\)/],
    ['http://[::1]/hook', /loopback address \(::1\)/],
    ['http://10.0.0.8/hook', /private address/],
    ['http://100.64.1.1/hook', /cgnat address/],
    ['http://169.254.169.254/latest/meta-data/', /metadata address/],
    ['http://[fd00:ec2::254]/', /metadata address/],
    ['http://[::ffff:192.168.1.1]/', /private address/],
    ['http://0.0.0.0:8080/', /unspecified address/],
    ['http://localhost.example/hook', /localhost\.example is a loopback address/],
    ['http://intranet.example/hook', /private address \(10\.1\.2\.3\)/],
    ['https://mixed.example/hook', /private address \(192\.168\.0\.7\)/],
    ['https://nowhere.example/hook', /does not resolve \(ENOTFOUND\)/],
  ])('is refused with 400 when %s is not a public address', async (url, message) => {
    server = await webhookServer(createSqliteStore({ path: ':memory:' }), { allowPrivate: false, lookup });
    const { status, error } = await post({ url });
    expect(status).toBe(400);
    expect(error?.field).toBe('webhook.url');
    expect(error?.message).toMatch(message);
    expect(await stored()).toBe(0);
  });

  it('with --webhook-allow-private may target internal networks, never a metadata service', async () => {
    server = await webhookServer(createSqliteStore({ path: ':memory:' }), { allowPrivate: true, lookup });
    expect((await post({ url: 'http://intranet.example/hook' })).status).toBe(202);
    const metadata = await post({ url: 'http://169.254.169.254/latest/meta-data/' });
    expect(metadata.status).toBe(400);
    expect(metadata.error?.field).toBe('webhook.url');
  });

  it('answers 404 for the deliveries of an unknown evaluation, an empty log before the end', async () => {
    server = await webhookServer(createSqliteStore({ path: ':memory:' }), { lookup });
    const app = await server.api();
    expect((await app.inject({ method: 'GET', url: '/v1/evaluations/nope/deliveries' })).statusCode).toBe(
      404,
    );
    const { service } = server;
    const { evaluation } = await service.submit({ language: 'python', code: 'print(1)' });
    const log = await app.inject({ method: 'GET', url: `/v1/evaluations/${evaluation.id}/deliveries` });
    expect(log.json()).toEqual({ webhook: null, items: [] });
  });
});
