import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime, RunRequest } from '../../src/runtime/runtime.js';
import { hostProcesses } from './sandbox-suite.js';
import { eventually, request, Tracked } from './tracked.js';

/** One backend under the conformance suite. */
export interface ConformanceBackend {
  /** The runtime every test uses, created once. */
  readonly runtime: Runtime;
  /** A fresh runtime on the same backend, as after a server restart. */
  createRuntime(): Promise<Runtime>;
  /** What `adopt` answers for a run whose runtime was closed mid-run: local sandboxes die with it. */
  readonly afterRestart: 'lost' | 'adopted';
  /** Whether the memory limit is enforced by the kernel here (the fake cluster's unisolated fallback is not). */
  readonly enforcesMemory: boolean;
  /** Resolves once the backend holds nothing of the run any more (no Job, no sandbox). */
  released(evaluationId: string): Promise<void>;
  close(): Promise<void>;
}

export type DescribeFn = (title: string, body: () => void) => void;

/**
 * The behaviour every `Runtime` must show, observed through the real state machine: start, output (streams
 * apart, exact bytes), exit code, signal, timeout, cancel, adopt after a restart, and the memory limit.
 * Run it from one test file per backend; `wrap` lets a backend skip with a reason where it cannot run.
 */
export function runtimeConformance(
  name: string,
  setup: () => Promise<ConformanceBackend>,
  wrap: DescribeFn = describe,
): void {
  wrap(`runtime conformance: ${name}`, () => {
    let backend: ConformanceBackend;
    beforeAll(async () => {
      backend = await setup();
    });
    afterAll(async () => backend?.close());

    async function run(req: RunRequest): Promise<Tracked> {
      const tracked = new Tracked(req, backend.runtime.name);
      await backend.runtime.start(req, tracked);
      await tracked.until();
      return tracked;
    }

    it('start resolves once launched; started comes before finished, each once', async () => {
      const t = await run(request('print(1)'));
      expect([t.evaluation.status, t.out, t.err]).toEqual(['succeeded', '1\n', '']);
      expect(t.calls.at(-1)).toBe('finished');
      expect(t.calls.filter((c) => c === 'finished')).toHaveLength(1);
      expect(t.calls.filter((c) => c === 'started').length).toBeLessThanOrEqual(1);
      expect(t.evaluation.timings.startedAt).not.toBeNull();
      expect(t.evaluation.result?.outputComplete).toBe(true);
    });

    it('keeps stdout and stderr apart, exact to the byte', async () => {
      const code = [
        'import sys',
        "sys.stdout.write('out1\\n'); sys.stdout.flush()",
        "sys.stderr.write('err1 partial'); sys.stderr.flush()",
        'sys.stdout.buffer.write(bytes([0, 255, 10, 13])); sys.stdout.flush()',
        "sys.stderr.write(' line\\n'); sys.stderr.flush()",
        "sys.stdout.write('no newline at end')",
      ].join('\n');
      const t = await run(request(code));
      expect(t.evaluation.status).toBe('succeeded');
      expect(Buffer.concat(t.stdout)).toEqual(
        Buffer.concat([
          Buffer.from('out1\n'),
          Buffer.from([0, 255, 10, 13]),
          Buffer.from('no newline at end'),
        ]),
      );
      expect(t.err).toBe('err1 partial line\n');
    });

    it('feeds stdin and reports the exit code', async () => {
      const t = await run(
        request('import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)', { stdin: 'hi' }),
      );
      expect([t.evaluation.status, t.out]).toEqual(['failed', 'HI\n']);
      expect(t.evaluation.result).toMatchObject({ exitCode: 3, signal: null, reason: 'exit_code' });
    });

    it('reports death by signal as the signal', async () => {
      const t = await run(
        request('import os, signal\nprint("bye", flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)'),
      );
      expect([t.evaluation.status, t.out]).toEqual(['failed', 'bye\n']);
      expect(t.evaluation.result).toMatchObject({ reason: 'signal', signal: 'SIGSEGV', exitCode: null });
    });

    it('ends a program at its time limit as timed_out, keeping its output', async () => {
      const started = Date.now();
      const t = await run(
        request('import time\nprint("before", flush=True)\ntime.sleep(30)', {
          limits: { timeoutSeconds: 1 },
        }),
      );
      expect([t.evaluation.status, t.evaluation.result?.reason, t.out]).toEqual([
        'timed_out',
        'timeout',
        'before\n',
      ]);
      expect(Date.now() - started).toBeLessThan(8000);
    });

    it('cancel stops the program and leaves nothing behind; idempotent', async () => {
      const marker = `77.${randomInt(1e6)}`;
      const req = request(`echo going\nexec sleep ${marker}`, { language: 'bash' });
      const t = new Tracked(req, backend.runtime.name);
      await backend.runtime.start(req, t);
      await eventually(() => t.out === 'going\n', 10_000);
      // The service records `cancelled` first; whatever the runtime reports afterwards changes nothing.
      t.apply({
        type: 'cancelled',
        at: new Date(),
        output: { stdoutTruncated: false, stderrTruncated: false },
      });
      await backend.runtime.cancel(req.evaluationId);
      await backend.released(req.evaluationId);
      await eventually(() => hostProcesses(marker).length === 0);
      expect(t.evaluation.status).toBe('cancelled');
      await backend.runtime.cancel(req.evaluationId);
      await backend.runtime.cancel('never-existed');
    });

    it('after a restart, adopt answers what the backend can do: re-attach, or lost', async () => {
      const before = await backend.createRuntime();
      const req = request('import time\nprint("first", flush=True)\ntime.sleep(1)\nprint("second")');
      const first = new Tracked(req, before.name);
      await before.start(req, first);
      await eventually(() => first.out === 'first\n', 10_000);
      await before.close();
      const after = await backend.createRuntime();
      try {
        const again = new Tracked(req, after.name);
        const delivered = { stdout: Buffer.concat(first.stdout).length, stderr: 0 };
        expect(await after.adopt(req, again, delivered)).toBe(backend.afterRestart);
        if (backend.afterRestart === 'adopted') {
          await again.until();
          // Nothing delivered twice, nothing lost, and the program ran once.
          expect([again.evaluation.status, first.out + again.out]).toEqual(['succeeded', 'first\nsecond\n']);
        }
        expect(await after.adopt(request('print(1)'), new Tracked(request('print(1)')))).toBe('lost');
      } finally {
        await after.close();
      }
    });

    it('enforces the memory limit: a program over it ends failed/oom', async (context) => {
      if (!backend.enforcesMemory) return context.skip('the backend does not enforce memory limits here');
      const t = await run(request('x = b"a" * (1 << 30)\nprint("survived")', { limits: { memoryMb: 64 } }));
      expect([t.evaluation.status, t.evaluation.result?.reason, t.out]).toEqual(['failed', 'oom', '']);
    });
  });
}
