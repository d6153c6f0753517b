import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { Crucible } from '../../src/client/index.js';
import { FakeRuntime, type FakeRun } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const open: InProcess[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

/** An in-process server on a real port whose runs wait until the test ends them. */
async function heldServer() {
  const launched: FakeRun[] = [];
  const waiters: ((run: FakeRun) => void)[] = [];
  const runtime = new FakeRuntime({
    script: (run) => {
      const waiter = waiters.shift();
      if (waiter) waiter(run);
      else launched.push(run);
    },
  });
  const p = await inProcess({ runtime });
  open.push(p);
  const app = await p.api();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const nextRun = () =>
    new Promise<FakeRun>((resolve) => {
      const run = launched.shift();
      if (run) resolve(run);
      else waiters.push(resolve);
    });
  return { p, runtime, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, nextRun };
}

function post(url: string, body: unknown): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      resolve,
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

describe('POST /v1/evaluations?wait=N', () => {
  test('sends 202 and Location while the program runs, then the terminal evaluation with its output', async () => {
    const { url, nextRun } = await heldServer();
    const answer = await post(`${url}/v1/evaluations?wait=30`, { language: 'python', code: 'x' });
    // The headers are here and the run is still going: a client can cancel by id before the end.
    const run = await nextRun();
    expect(answer.statusCode).toBe(202);
    expect(answer.headers.location).toBe(`/v1/evaluations/${run.request.evaluationId}`);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(run.alive).toBe(true);
    run.print('done\n');
    await run.exit(3);
    const evaluation = JSON.parse(await readAll(answer)) as Record<string, unknown>;
    expect(evaluation).toMatchObject({
      id: run.request.evaluationId,
      status: 'failed',
      result: { exitCode: 3, stdout: 'done\n' },
    });
  });

  test('answers the evaluation as it is when the wait is over', async () => {
    const { url, nextRun } = await heldServer();
    const answer = await post(`${url}/v1/evaluations?wait=0.2`, { language: 'python', code: 'x' });
    const run = await nextRun();
    const evaluation = JSON.parse(await readAll(answer)) as { status: string };
    expect(evaluation.status).toBe('running');
    await run.exit(0);
  });

  test('a client that goes away stops the wait: nothing keeps listening for it', async () => {
    const { p, url, nextRun } = await heldServer();
    const answer = await post(`${url}/v1/evaluations?wait=300`, { language: 'python', code: 'x' });
    const run = await nextRun();
    const listening = p.bus.transitionListeners;
    answer.destroy();
    await expect.poll(() => p.bus.transitionListeners).toBe(listening - 1);
    await run.exit(0);
  });

  test('a bad wait is refused naming the field, and nothing is stored', async () => {
    const { p } = await heldServer();
    const app = await p.api();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/evaluations?wait=301',
      payload: { language: 'python', code: 'x' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { field: 'wait', message: /300 seconds/ } });
    expect((await p.service.list({ limit: 10 })).items).toHaveLength(0);
  });

  test('the SDK’s run without output callbacks is this one request, and learns the id before the end', async () => {
    const { url, nextRun } = await heldServer();
    const crucible = new Crucible({ baseUrl: url });
    let submittedId: string | undefined;
    const final = crucible.run(
      { language: 'python', code: 'x' },
      {
        onSubmitted: ({ id }) => {
          submittedId = id;
        },
      },
    );
    const run = await nextRun();
    await expect.poll(() => submittedId).toBe(run.request.evaluationId);
    run.print('hi\n');
    await run.exit(0);
    expect(await final).toMatchObject({ status: 'succeeded', result: { stdout: 'hi\n' } });
  });
});
