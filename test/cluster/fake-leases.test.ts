import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApiOnly } from '../../testkit/fake-kube/index.js';

/**
 * The fake API server's Leases over real HTTP, against what the real API server answers: optimistic
 * concurrency on resourceVersion, Status bodies (apimachinery's NewConflict / NewAlreadyExists /
 * NewNotFound), MicroTime with exactly six fractional digits.
 */

const NS = 'crucible-test';
const BASE = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const MICRO = '2024-05-01T10:00:00.123456Z';

let api: FakeApiOnly;
beforeAll(async () => {
  api = await startFakeApiServer();
});
afterAll(async () => {
  await api.close();
});

interface Answer {
  status: number;
  body: Record<string, unknown> & {
    metadata?: { resourceVersion?: string; uid?: string; name?: string };
    spec?: Record<string, unknown>;
    items?: unknown[];
  };
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(api.url + path, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

function lease(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, ...metadata },
    spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: MICRO, renewTime: MICRO, ...spec },
  };
}

describe('fake API server: coordination.k8s.io/v1 Leases', () => {
  it('creates, reads, lists and deletes, with 404 NotFound and 409 AlreadyExists as Status objects', async () => {
    const created = await call('POST', BASE, lease('crud'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'Lease', apiVersion: 'coordination.k8s.io/v1' });
    expect(created.body.spec).toMatchObject({ holderIdentity: 'a', renewTime: MICRO });
    expect(created.body.metadata?.resourceVersion).toMatch(/^\d+$/);

    const again = await call('POST', BASE, lease('crud'));
    expect(again).toEqual({
      status: 409,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'leases.coordination.k8s.io "crud" already exists',
        reason: 'AlreadyExists',
        details: { name: 'crud', group: 'coordination.k8s.io', kind: 'leases' },
        code: 409,
      },
    });

    expect((await call('GET', `${BASE}/crud`)).body.metadata?.uid).toBe(created.body.metadata?.uid);
    const list = await call('GET', BASE);
    expect(list.body).toMatchObject({ kind: 'LeaseList', apiVersion: 'coordination.k8s.io/v1' });
    expect(list.body.items).toHaveLength(1);

    expect((await call('DELETE', `${BASE}/crud`)).status).toBe(200);
    const missing = await call('GET', `${BASE}/crud`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({
      kind: 'Status',
      reason: 'NotFound',
      code: 404,
      message: 'leases.coordination.k8s.io "crud" not found',
      details: { name: 'crud', group: 'coordination.k8s.io', kind: 'leases' },
    });
  });

  it('answers a PUT with a stale resourceVersion with 409 Conflict and keeps the stored Lease', async () => {
    const first = await call('POST', BASE, lease('occ'));
    const staleRv = first.body.metadata!.resourceVersion!;
    const renewed = await call('PUT', `${BASE}/occ`, {
      ...first.body,
      spec: { ...first.body.spec, renewTime: '2024-05-01T10:00:02.000001Z' },
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body.metadata?.resourceVersion).not.toBe(staleRv);

    const racer = await call('PUT', `${BASE}/occ`, {
      ...first.body,
      spec: { ...first.body.spec, holderIdentity: 'b' },
    });
    expect(racer).toEqual({
      status: 409,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'Operation cannot be fulfilled on leases.coordination.k8s.io "occ": the object has been modified; ' +
          'please apply your changes to the latest version and try again',
        reason: 'Conflict',
        details: { name: 'occ', group: 'coordination.k8s.io', kind: 'leases' },
        code: 409,
      },
    });
    const stored = await call('GET', `${BASE}/occ`);
    expect(stored.body.spec).toMatchObject({ holderIdentity: 'a', renewTime: '2024-05-01T10:00:02.000001Z' });
    expect(stored.body.metadata?.resourceVersion).toBe(renewed.body.metadata?.resourceVersion);
  });

  it('refuses an update without resourceVersion (422) and keeps the version of a no-op update', async () => {
    const first = await call('POST', BASE, lease('rv'));
    const { resourceVersion: _rv, ...withoutRv } = first.body.metadata!;
    const unconditional = await call('PUT', `${BASE}/rv`, { ...first.body, metadata: withoutRv });
    expect(unconditional.status).toBe(422);
    expect(unconditional.body).toMatchObject({ reason: 'Invalid' });
    const same = await call('PUT', `${BASE}/rv`, first.body);
    expect(same.status).toBe(200);
    expect(same.body.metadata?.resourceVersion).toBe(first.body.metadata?.resourceVersion);
  });

  it('creates on PUT when the Lease is missing, unless the body names a uid (precondition: 409)', async () => {
    const created = await call('PUT', `${BASE}/upsert`, lease('upsert'));
    expect(created.status).toBe(201);
    const gone = await call(
      'PUT',
      `${BASE}/ghost`,
      lease('ghost', {}, { uid: 'old-uid', resourceVersion: '5' }),
    );
    expect(gone.status).toBe(409);
    expect(gone.body).toMatchObject({ reason: 'Conflict' });
    expect((await call('PUT', `${BASE}/other`, lease('upsert'))).status).toBe(400);
  });

  it('decodes MicroTime only with six fractional digits (400) and validates the spec (422)', async () => {
    const millis = await call('POST', BASE, lease('ms', { renewTime: '2024-05-01T10:00:00.123Z' }));
    expect(millis.status).toBe(400);
    expect(millis.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    const offset = await call('POST', BASE, lease('tz', { renewTime: '2024-05-01T12:00:00.000001+02:00' }));
    expect(offset.body.spec?.['renewTime']).toBe('2024-05-01T10:00:00.000001Z');
    const zero = await call('POST', BASE, lease('zero', { leaseDurationSeconds: 0 }));
    expect(zero.status).toBe(422);
    expect(zero.body).toMatchObject({ reason: 'Invalid', details: { kind: 'Lease' } });
    expect((await call('POST', BASE, lease('neg', { leaseTransitions: -1 }))).status).toBe(422);
  });
});
