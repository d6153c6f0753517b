import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsGone, request, setup, type Env } from './harness.js';

let env: Env;
beforeAll(async () => {
  env = await setup();
});
afterAll(async () => env.close());

/** Kubernetes specifics; what every runtime must do is in test/kubernetes/conformance.test.ts. */
describe('kubernetes runtime on the fake API server', () => {
  it('runs JavaScript and Bash images too', async () => {
    const js = await env.run(request('console.log("js"); console.error("e")', { language: 'javascript' }));
    const sh = await env.run(request('echo sh; echo oops >&2; exit 1', { language: 'bash' }));
    await Promise.all([js.until(), sh.until()]);
    expect([js.evaluation.status, js.out, js.err]).toEqual(['succeeded', 'js\n', 'e\n']);
    expect([sh.evaluation.status, sh.out, sh.err]).toEqual(['failed', 'sh\n', 'oops\n']);
  });

  it("records the CPU time and peak memory the runner measured (the kubelet keeps none of a finished pod's)", async () => {
    const t = await env.run(
      request(
        'b = bytearray(48 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint(sum(range(3_000_000)))',
      ),
    );
    await t.until();
    expect([t.evaluation.status, t.out]).toEqual(['succeeded', `${(3_000_000 * 2_999_999) / 2}\n`]);
    const result = t.evaluation.result!;
    expect(result.memoryEnforcement).toBe('kubernetes');
    expect(result.cpuTimeMs).toBeGreaterThan(0);
    expect(result.peakMemoryBytes).toBeGreaterThanOrEqual(48 * 1024 * 1024);
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
        // A generous limit: FAST sets no deadline allowance, and 50 pods on two loaded cores start slowly.
        env.run(
          request(`import sys\nprint(${i})\nsys.stderr.write("e${i}")\nsys.exit(${i % 3})`, {
            limits: { timeoutSeconds: 60 },
          }),
        ),
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

  it('API calls share connections instead of opening one per request', async () => {
    const before = { ...env.cluster.server.requests };
    for (let i = 0; i < 5; i += 1) {
      const t = await env.run(request(`print(${i})`));
      await t.until();
    }
    const requests = env.cluster.server.requests.total - before.total;
    const connections = env.cluster.server.requests.connections - before.connections;
    expect(requests).toBeGreaterThan(20);
    expect(connections).toBeLessThan(requests / 4);
  });
});
