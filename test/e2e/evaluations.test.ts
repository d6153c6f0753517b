import { expect, it } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import type { EvaluationView } from '../../src/api/views.js';
import type { Submission } from '../../src/client/index.js';
import { useTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
useTestServer({ args: ['--concurrency', '2'] }, (s) => (server = s));

async function runToEnd(body: Submission): Promise<EvaluationView> {
  const submitted = await server.client.submit(body);
  expect(submitted.status).toBe('queued');
  return server.client.get(submitted.id, 60);
}

describeSandboxed('running code over HTTP in the real sandbox', () => {
  it('keeps stdout and stderr apart and reports exit code 0 as succeeded', async () => {
    const e = await runToEnd({
      language: 'python',
      code: 'import sys\nprint("to out")\nprint("to err", file=sys.stderr)\n',
    });
    expect(e.status).toBe('succeeded');
    expect(e.result?.stdout).toBe('to out\n');
    expect(e.result?.stderr).toBe('to err\n');
    expect(e.result?.exitCode).toBe(0);
    expect(e.runtime).toBe('bwrap');
  });

  it('answers 202 with a Location header and stamps every stage in order', async () => {
    const response = await fetch(`${server.url}/v1/evaluations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'bash', code: 'echo hi' }),
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as EvaluationView;
    expect(response.headers.get('location')).toBe(`/v1/evaluations/${body.id}`);
    const e = await server.client.get(body.id, 30);
    const t = e.timings;
    const order = [t.submittedAt, t.dispatchedAt, t.startedAt, t.finishedAt, t.storedAt].map((s) =>
      Date.parse(s!),
    );
    expect(order.every((v, i) => i === 0 || v >= order[i - 1]!)).toBe(true);
  });

  it('reports a non-zero exit as failed with reason exit_code', async () => {
    const e = await runToEnd({ language: 'bash', code: 'echo partial; exit 7' });
    expect(e.status).toBe('failed');
    expect(e.result).toMatchObject({ exitCode: 7, reason: 'exit_code', stdout: 'partial\n' });
  });

  it('reports death by signal with the signal name', async () => {
    const e = await runToEnd({ language: 'bash', code: 'kill -SEGV $$' });
    expect(e.status).toBe('failed');
    expect(e.result).toMatchObject({ signal: 'SIGSEGV', reason: 'signal', exitCode: null });
  });

  it('ends a program that runs too long as timed_out', async () => {
    const e = await runToEnd({
      language: 'python',
      code: 'import time\nprint("begin", flush=True)\ntime.sleep(30)',
      timeoutSeconds: 1,
    });
    expect(e.status).toBe('timed_out');
    expect(e.result?.reason).toBe('timeout');
    expect(e.result?.stdout).toBe('begin\n');
    expect(e.result?.durationMs).toBeGreaterThanOrEqual(900);
    expect(e.result?.durationMs).toBeLessThan(5000);
  });

  it('feeds stdin to the program', async () => {
    const e = await runToEnd({
      language: 'python',
      code: 'import sys\nprint(sys.stdin.read().upper(), end="")',
      stdin: 'hello\nworld\n',
    });
    expect(e.result?.stdout).toBe('HELLO\nWORLD\n');
  });

  it.each([
    ['python', 'print(6*7)'],
    ['javascript', 'console.log(6*7)'],
    ['bash', 'echo $((6*7))'],
  ])('runs %s', async (language, code) => {
    const e = await runToEnd({ language, code });
    expect(e.status).toBe('succeeded');
    expect(e.result?.stdout).toBe('42\n');
  });

  it('truncates output at the cap and says so', async () => {
    const e = await runToEnd({
      language: 'python',
      code: 'import sys\nsys.stdout.write("x" * (3 * 1024 * 1024))',
    });
    expect(e.status).toBe('succeeded');
    expect(e.result?.stdoutTruncated).toBe(true);
    expect(e.result?.stdout.length).toBe(1024 * 1024);
  });

  it('cancels a running evaluation and kills it', async () => {
    const submitted = await server.client.submit({ language: 'bash', code: 'echo started; sleep 30' });
    // Its first output proves it is running.
    for await (const line of server.client.logs(submitted.id, true)) {
      expect(line.data).toBe('started\n');
      break;
    }
    const cancelled = await server.client.cancel(submitted.id);
    expect(cancelled.status).toBe('cancelled');
    const again = await server.client.cancel(submitted.id);
    expect(again.status).toBe('cancelled');
    const final = await server.client.get(submitted.id);
    expect(final.result?.reason).toBe('cancelled');
  });

  it('leaves a terminal evaluation as it is when cancelled', async () => {
    const e = await runToEnd({ language: 'bash', code: 'true' });
    const after = await server.client.cancel(e.id);
    expect(after.status).toBe('succeeded');
  });

  it('lists newest first with status and label filters and a cursor', async () => {
    const tag = `t${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await runToEnd({ language: 'bash', code: 'true', labels: { batch: tag } })).id);
    }
    const first = await server.client.list({ label: `batch=${tag}`, limit: '2' });
    expect(first.items.map((e) => e.id)).toEqual([ids[2], ids[1]]);
    expect(first.nextCursor).not.toBeNull();
    const second = await server.client.list({ label: `batch=${tag}`, limit: '2', cursor: first.nextCursor! });
    expect(second.items.map((e) => e.id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeNull();
    const failed = await server.client.list({ status: 'failed', label: `batch=${tag}` });
    expect(failed.items).toEqual([]);
  });

  it('answers 404 with the error shape for an unknown id', async () => {
    const response = await fetch(`${server.url}/v1/evaluations/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: 'not_found', message: 'no evaluation with id "nope"', field: 'id' },
    });
  });

  it('serves the OpenAPI document, queue figures and Prometheus metrics', async () => {
    const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/evaluations', '/v1/events']));
    const queue = await (await fetch(`${server.url}/v1/queue`)).json();
    expect(queue).toMatchObject({ capacity: 2, queued: { high: 0, normal: 0, low: 0 } });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/crucible_stage_duration_seconds_bucket\{[^}]*stage="end_to_end"/);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
