import { afterEach, expect, test } from 'vitest';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

test('the OpenAPI document describes the project calls and the project field of submissions', async () => {
  const p = await inProcess({ runtime: new FakeRuntime() });
  open.push(p);
  const app = await p.api();
  await app.ready();
  const doc = app.swagger() as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
  };
  expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/projects', '/v1/projects/{id}']));
  expect(Object.keys(doc.paths['/v1/projects'] ?? {}).sort()).toEqual(['get', 'post']);
  const body = JSON.stringify(doc.paths['/v1/projects']?.['post']?.requestBody);
  expect(body).toMatch(/maxConcurrent/);
  expect(body).toMatch(/egress/);
  expect(JSON.stringify(doc.paths['/v1/evaluations']?.['post']?.requestBody)).toMatch(/"project"/);
});
