import { afterAll, beforeAll, expect, test } from 'vitest';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import { describeSandboxed } from '../support/requirements.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const MIB = 1024 * 1024;

describeSandboxed('usage of runs in the local sandbox (bwrap, cgroup v1 figures)', () => {
  let p: InProcess;

  beforeAll(async () => {
    const sandbox = await createSandbox({
      isolation: 'bwrap',
      stateDir: `/tmp/crucible-usage-${process.pid}`,
    });
    p = await inProcess({ runtime: createLocalRuntime(sandbox) });
  });
  afterAll(() => p?.close());

  test('a run records its CPU time and peak memory, and the usage report sums them', async () => {
    const code =
      'b = bytearray(48 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint(sum(range(3_000_000)))';
    const { evaluation } = await p.service.submit({ language: 'python', code, labels: { team: 'red' } });
    const done = await p.service.wait(evaluation.id, 30_000);
    expect(done.status).toBe('succeeded');
    const result = done.result!;
    expect(result.memoryEnforcement).toBe('cgroup');
    expect(result.cpuTimeMs).toBeGreaterThan(0);
    expect(result.peakMemoryBytes).toBeGreaterThanOrEqual(48 * MIB);

    const report = await p.service.usage!.report({ groupBy: { label: 'team' } }, { user: null, admin: true });
    expect(report.items).toHaveLength(1);
    const [red] = report.items;
    expect(red).toMatchObject({ key: 'red', evaluations: 1 });
    expect(red!.wallSeconds).toBeCloseTo(result.durationMs! / 1000, 3);
    expect(red!.cpuSeconds).toBeCloseTo(result.cpuTimeMs! / 1000, 3);
    expect(red!.memoryMbSeconds).toBeCloseTo(
      ((result.peakMemoryBytes! / MIB) * result.durationMs!) / 1000,
      2,
    );
  });
});
