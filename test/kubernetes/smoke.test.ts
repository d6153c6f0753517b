import { afterAll, beforeAll, expect, it } from 'vitest';
import { request, setup, type Env } from './harness.js';

let env: Env;
beforeAll(async () => {
  env = await setup();
});
afterAll(async () => env.close());

it('runs print(1) in the local sandbox behind the fake kubelet', async () => {
  const t = await env.run(request('print(1)'));
  await t.until();
  expect(env.warnings).toEqual([]);
  expect(t.evaluation.status).toBe('succeeded');
  expect(t.out).toBe('1\n');
  // bwrap when the local sandbox works on this host; `none` only as the documented fallback.
  expect(['bwrap', 'none']).toContain(env.cluster.isolation);
  expect(process.env['CRUCIBLE_FAKE_KUBE_REQUIRE_BWRAP'] ? env.cluster.isolation : 'bwrap').toBe('bwrap');
});
