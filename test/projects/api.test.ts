import { afterEach, describe, expect, test } from 'vitest';
import type { ProjectPlacement } from '../../src/core/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

/** A runtime that keeps every run going until the test ends it, and records removed projects. */
class HoldingRuntime extends FakeRuntime {
  readonly removed: ProjectPlacement[] = [];
  constructor() {
    super({ script: () => undefined });
  }
  async removeProject(project: ProjectPlacement): Promise<void> {
    this.removed.push(project);
  }
}

async function api(runtime: FakeRuntime = new FakeRuntime()) {
  const p = await inProcess({ runtime, concurrency: 1 });
  open.push(p);
  return { p, app: await p.api() };
}

type App = Awaited<ReturnType<typeof api>>['app'];

async function createProject(app: App, body: Record<string, unknown>) {
  const response = await app.inject({ method: 'POST', url: '/v1/projects', payload: body });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

describe('projects over HTTP (app.inject)', () => {
  test('create answers 201 with id, namespace proj-<id>, limits, egress and createdAt; get and list show it', async () => {
    const { app } = await api();
    const created = await createProject(app, {
      name: 'team-a',
      limits: { memoryMb: 2048, maxConcurrent: 4, cpu: 2.5 },
      egress: ['10.1.0.0/16', '2001:db8::/32'],
    });
    expect(created.status).toBe(201);
    const id = String(created.body['id']);
    expect(created.body).toEqual({
      id,
      name: 'team-a',
      namespace: `proj-${id}`,
      limits: { memoryMb: 2048, maxConcurrent: 4, cpu: 2.5 },
      egress: ['10.1.0.0/16', '2001:db8::/32'],
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    });
    expect(`proj-${id}`).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    const one = await app.inject({ method: 'GET', url: `/v1/projects/${id}` });
    expect([one.statusCode, one.json()]).toEqual([200, created.body]);
    const other = await createProject(app, { name: 'team-b' });
    expect(other.body).toMatchObject({ limits: {}, egress: [] });
    const list = await app.inject({ method: 'GET', url: '/v1/projects' });
    expect(list.json<{ items: { name: string }[] }>().items.map((p) => p.name)).toEqual(['team-a', 'team-b']);
  });

  test.each([
    [{ name: 'Bad_Name' }, 'name', /lower-case letters/],
    [{ name: 'a', limits: { memoryMb: 8 } }, 'limits.memoryMb', /between 16 and 4194304/],
    [{ name: 'a', limits: { maxConcurrent: 0 } }, 'limits.maxConcurrent', /between 1 and 10000/],
    [{ name: 'a', limits: { maxConcurrent: 1.5 } }, 'limits.maxConcurrent', /whole number/],
    [{ name: 'a', limits: { cpu: 0 } }, 'limits.cpu', /between 0.01 and 4096/],
    [{ name: 'a', limits: { gpus: 1 } }, 'limits.gpus', /unknown field "gpus"/],
    [{ name: 'a', egress: ['10.0.0.0/33'] }, 'egress.0', /CIDRs such as/],
    [{ name: 'a', egress: 'any' }, 'egress', /list of CIDRs/],
    [{ limits: {} }, 'name', /name/],
  ])('refuses %j with 400 naming %s', async (body, field, message) => {
    const { app } = await api();
    const refused = await createProject(app, body);
    expect(refused.status).toBe(400);
    const error = refused.body['error'] as { code: string; field: string; message: string };
    expect(error).toMatchObject({ code: 'invalid_request', field });
    expect(error.message).toMatch(message);
  });

  test('a second project with the same name answers 409 already_exists; unknown ids answer 404', async () => {
    const { app } = await api();
    await createProject(app, { name: 'same' });
    const again = await createProject(app, { name: 'same' });
    expect([again.status, again.body['error']]).toEqual([
      409,
      { code: 'already_exists', message: 'a project named "same" already exists', field: 'name' },
    ]);
    for (const method of ['GET', 'DELETE'] as const) {
      const missing = await app.inject({ method, url: '/v1/projects/nope' });
      expect([missing.statusCode, missing.json<{ error: { field: string } }>().error.field]).toEqual([
        404,
        'id',
      ]);
    }
  });

  test('a submission names its project: stored, shown, filterable; an unknown project answers 404 naming the field', async () => {
    const { app } = await api();
    const project = await createProject(app, { name: 'p', limits: { memoryMb: 512 } });
    const id = String(project.body['id']);
    const submit = (body: Record<string, unknown>) =>
      app.inject({
        method: 'POST',
        url: '/v1/evaluations',
        payload: { language: 'python', code: 'x', ...body },
      });

    const inProject = await submit({ project: id });
    expect(inProject.statusCode).toBe(202);
    expect(inProject.json()).toMatchObject({ project: id, status: 'queued' });
    const outside = await submit({});
    expect(outside.json()).not.toHaveProperty('project');

    const unknown = await submit({ project: 'nope' });
    expect([unknown.statusCode, unknown.json()]).toEqual([
      404,
      { error: { code: 'not_found', message: 'no project with id "nope"', field: 'project' } },
    ]);
    const tooBig = await submit({ project: id, memoryMb: 1024 });
    expect([tooBig.statusCode, tooBig.json<{ error: { field: string } }>().error.field]).toEqual([
      400,
      'memoryMb',
    ]);
    expect(tooBig.json<{ error: { message: string } }>().error.message).toMatch(/limits\.memoryMb 512/);

    const evaluationId = inProject.json<{ id: string }>().id;
    const one = await app.inject({ method: 'GET', url: `/v1/evaluations/${evaluationId}` });
    expect(one.json()).toMatchObject({ project: id });
    const filtered = await app.inject({ method: 'GET', url: `/v1/evaluations?project=${id}` });
    expect(filtered.json<{ items: { id: string }[] }>().items.map((e) => e.id)).toEqual([evaluationId]);
    const all = await app.inject({ method: 'GET', url: '/v1/evaluations' });
    expect(all.json<{ items: unknown[] }>().items).toHaveLength(2);
  });

  test('deleting a project cancels its queued and running evaluations, leaves others, and tells the runtime', async () => {
    const runtime = new HoldingRuntime();
    const { p, app } = await api(runtime);
    const project = await createProject(app, { name: 'doomed' });
    const id = String(project.body['id']);
    const submit = async (body: Record<string, unknown>) =>
      (
        await app.inject({
          method: 'POST',
          url: '/v1/evaluations',
          payload: { language: 'python', code: 'x', ...body },
        })
      ).json<{ id: string }>().id;
    const running = await submit({ project: id });
    // One slot: this one stays queued behind the first.
    const queued = await submit({ project: id });
    await expect.poll(() => runtime.started).toEqual([running]);
    const other = await createProject(app, { name: 'kept' });
    const elsewhere = await submit({ project: String(other.body['id']) });

    const deleted = await app.inject({ method: 'DELETE', url: `/v1/projects/${id}` });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json<{ cancelledEvaluations: string[] }>().cancelledEvaluations.sort()).toEqual(
      [running, queued].sort(),
    );
    expect((await p.service.get(running)).status).toBe('cancelled');
    expect((await p.service.get(queued)).status).toBe('cancelled');
    expect(runtime.alive.map((r) => r.request.evaluationId)).not.toContain(running);
    expect(runtime.removed.map((r) => r.namespace)).toEqual([`proj-${id}`]);
    // The cancelled evaluations keep naming the project; the other project's evaluation runs on.
    expect((await p.service.get(running)).project).toBe(id);
    await expect.poll(() => runtime.started).toContain(elsewhere);
    const gone = await app.inject({ method: 'GET', url: `/v1/projects/${id}` });
    expect(gone.statusCode).toBe(404);
    const late = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      payload: { language: 'python', code: 'x', project: id },
    });
    expect(late.statusCode).toBe(404);
  });

  test('a namespace that cannot be removed keeps the project (503 not_ready) so the delete can be repeated', async () => {
    const runtime = new HoldingRuntime();
    let failures = 1;
    runtime.removeProject = async (project) => {
      if (failures-- > 0) throw new Error('Kubernetes API unreachable');
      runtime.removed.push(project);
    };
    const { p, app } = await api(runtime);
    const id = String((await createProject(app, { name: 'sticky' })).body['id']);
    const { evaluation } = await p.service.submit({ language: 'python', code: 'x', project: id });
    const first = await app.inject({ method: 'DELETE', url: `/v1/projects/${id}` });
    expect(first.statusCode).toBe(503);
    expect(first.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'not_ready',
      message: expect.stringMatching(
        /could not be removed \(Kubernetes API unreachable\).*repeat the delete/,
      ) as unknown,
    });
    expect((await p.service.get(evaluation.id)).status).toBe('cancelled');
    expect((await app.inject({ method: 'GET', url: `/v1/projects/${id}` })).statusCode).toBe(200);
    const again = await app.inject({ method: 'DELETE', url: `/v1/projects/${id}` });
    expect([again.statusCode, again.json<{ cancelledEvaluations: string[] }>().cancelledEvaluations]).toEqual(
      [200, []],
    );
    expect(runtime.removed.map((r) => r.id)).toEqual([id]);
  });

  test('the runtime gets the project placement with the run request', async () => {
    const runtime = new FakeRuntime();
    const { p, app } = await api(runtime);
    const project = await createProject(app, {
      name: 'placed',
      limits: { maxConcurrent: 1 },
      egress: ['1.2.3.4/32'],
    });
    const id = String(project.body['id']);
    const { evaluation } = await p.service.submit({ language: 'python', code: 'x', project: id });
    await p.service.wait(evaluation.id, 5000);
    expect(runtime.runs.get(evaluation.id)?.request.project).toEqual({
      id,
      namespace: `proj-${id}`,
      limits: { maxConcurrent: 1 },
      egress: ['1.2.3.4/32'],
    });
  });
});

describe('project limits in the scheduler', () => {
  test('a project at maxConcurrent leaves its next evaluation queued (no slot held) while others run', async () => {
    const runtime = new HoldingRuntime();
    const p = await inProcess({ runtime, concurrency: 3 });
    open.push(p);
    const project = await p.service.projects!.create({ name: 'narrow', limits: { maxConcurrent: 1 } });
    const submit = async (code: string, inProject: boolean) =>
      (await p.service.submit({ language: 'python', code, ...(inProject ? { project: project.id } : {}) }))
        .evaluation.id;
    const first = await submit('1', true);
    const second = await submit('2', true);
    const outside = await submit('3', false);
    await expect.poll(() => [...runtime.started].sort()).toEqual([first, outside].sort());
    expect((await p.service.get(second)).status).toBe('queued');
    // The first ends: the second is claimed into the freed room.
    await runtime.runs.get(first)!.exit(0);
    await expect.poll(() => runtime.started).toContain(second);
    expect((await p.service.get(first)).status).toBe('succeeded');
  });
});
