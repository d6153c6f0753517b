import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsGone, request, setup, type Env } from './harness.js';

let env: Env;
beforeAll(async () => {
  env = await setup();
});
afterAll(async () => env.close());

describe('kubernetes runtime on the fake API server', () => {
  it('keeps stdout and stderr apart, exact to the byte, without trailing newline', async () => {
    const code = [
      'import sys',
      "sys.stdout.write('out1\\n'); sys.stdout.flush()",
      "sys.stderr.write('err1 partial'); sys.stderr.flush()",
      'sys.stdout.buffer.write(bytes([0, 255, 10, 13])); sys.stdout.flush()',
      "sys.stderr.write(' line\\n'); sys.stderr.flush()",
      "sys.stdout.write('no newline at end')",
    ].join('\n');
    const t = await env.run(request(code));
    await t.until();
    expect(t.evaluation.status).toBe('succeeded');
    expect(Buffer.concat(t.stdout)).toEqual(
      Buffer.concat([Buffer.from('out1\n'), Buffer.from([0, 255, 10, 13]), Buffer.from('no newline at end')]),
    );
    expect(t.err).toBe('err1 partial line\n');
    expect(t.calls).toEqual(['started', 'finished']);
  });

  it('feeds stdin and reports the exit code', async () => {
    const t = await env.run(
      request('import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)', { stdin: 'hello' }),
    );
    await t.until();
    expect(t.evaluation.status).toBe('failed');
    expect(t.evaluation.result).toMatchObject({ exitCode: 3, reason: 'exit_code' });
    expect(t.out).toBe('HELLO\n');
  });

  it('runs JavaScript and Bash images too', async () => {
    const js = await env.run(request('console.log("js"); console.error("e")', { language: 'javascript' }));
    const sh = await env.run(request('echo sh; echo oops >&2; exit 1', { language: 'bash' }));
    await Promise.all([js.until(), sh.until()]);
    expect([js.evaluation.status, js.out, js.err]).toEqual(['succeeded', 'js\n', 'e\n']);
    expect([sh.evaluation.status, sh.out, sh.err]).toEqual(['failed', 'sh\n', 'oops\n']);
  });

  it('reports a signal death', async () => {
    const t = await env.run(
      request('import os, signal\nprint("bye", flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)'),
    );
    await t.until();
    expect(t.evaluation.status).toBe('failed');
    expect(t.evaluation.result).toMatchObject({ reason: 'signal', signal: 'SIGSEGV' });
    expect(t.out).toBe('bye\n');
  });

  it('delivers 512 KiB of code and 1 MiB of stdin through chunked ConfigMaps', async () => {
    const filler = `# ${'x'.repeat(1000)}\n`.repeat(520);
    const stdin = 'y'.repeat(1024 * 1024);
    const t = await env.run(request(`${filler}import sys\nprint(len(sys.stdin.read()))`, { stdin }));
    await t.until();
    expect([t.evaluation.status, t.out, t.err]).toEqual(['succeeded', `${1024 * 1024}\n`, '']);
  });

  it('streams large output completely', async () => {
    const t = await env.run(request('import sys\nfor i in range(20000): sys.stdout.write(f"{i}\\n")'));
    await t.until();
    const expected = Array.from({ length: 20000 }, (_, i) => `${i}\n`).join('');
    expect(t.out).toBe(expected);
  });

  it('passes one byte over the output cap so the service can flag truncation, and drops the rest', async () => {
    const t = await env.run(request('print("x" * 100000)', { limits: { maxOutputBytes: 10 } }));
    await t.until();
    expect([t.evaluation.status, t.out]).toEqual(['succeeded', 'x'.repeat(11)]);
  });

  it('cancels by deleting the Job with Background propagation', async () => {
    const t = await env.run(request('import time\nprint("going", flush=True)\ntime.sleep(30)'));
    await t.until((s) => s === 'running');
    await env.runtime.cancel(t.request.evaluationId);
    t.apply({
      type: 'cancelled',
      at: new Date(),
      output: { stdoutTruncated: false, stderrTruncated: false },
    });
    expect(await jobsGone(env.cluster)).toBe(true);
    expect(t.evaluation.status).toBe('cancelled');
    await env.runtime.cancel(t.request.evaluationId); // idempotent
    await env.runtime.cancel('never-existed');
  });

  it('deletes each Job and its payload only after the result and logs were delivered', async () => {
    const t = await env.run(request('print("kept")'));
    await t.until();
    expect(t.out).toBe('kept\n');
    expect(await jobsGone(env.cluster)).toBe(true);
    expect(env.cluster.store.list('configmaps', 'crucible-test')).toEqual([]);
  });

  it('runs 50 concurrent evaluations, each with its own complete output', async () => {
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        env.run(request(`import sys\nprint(${i})\nsys.stderr.write("e${i}")\nsys.exit(${i % 3})`)),
      ),
    );
    await Promise.all(runs.map((t) => t.until()));
    runs.forEach((t, i) => {
      expect([t.evaluation.status, t.evaluation.result?.message]).toEqual([
        i % 3 === 0 ? 'succeeded' : 'failed',
        null,
      ]);
      expect(t.out).toBe(`${i}\n`);
      expect(t.err).toBe(`e${i}`);
      expect(t.evaluation.result?.exitCode).toBe(i % 3);
    });
    expect(await jobsGone(env.cluster)).toBe(true);
  });
});
