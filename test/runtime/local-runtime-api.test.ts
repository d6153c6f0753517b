import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_LIMITS, type RunOutcome } from '../../src/core/index.js';
import { createLocalRuntime, createSandbox } from '../../src/runtime/local/index.js';
import type { Runtime, RunObserver, RunRequest } from '../../src/runtime/runtime.js';

function request(language: string, code: string, overrides: Partial<RunRequest> = {}): RunRequest {
  return {
    evaluationId: `ev-${Math.random().toString(36).slice(2)}`,
    language,
    code,
    stdin: '',
    limits: { ...DEFAULT_LIMITS, timeoutSeconds: 10 },
    priority: 'normal',
    labels: {},
    ...overrides,
  };
}

describe('local runtime', () => {
  let runtime: Runtime;

  beforeAll(async () => {
    runtime = createLocalRuntime(
      await createSandbox({ isolation: 'bwrap', stateDir: `/tmp/crucible-rt-${process.pid}` }),
    );
  });
  afterAll(() => runtime?.close());

  function observer() {
    let finish: (outcome: RunOutcome) => void = () => undefined;
    const done = new Promise<RunOutcome>((resolve) => (finish = resolve));
    const events: string[] = [];
    const output = { stdout: '', stderr: '' };
    const obs: RunObserver = {
      started: () => events.push('started'),
      output: (stream, data) => {
        events.push(stream);
        output[stream] += data.toString();
      },
      finished: (outcome) => {
        events.push('finished');
        finish(outcome);
      },
    };
    return { obs, events, output, done };
  }

  test('is named after its isolation and runs each language through the LANGUAGES table', async () => {
    expect(runtime.name).toBe('bwrap');
    for (const [language, code] of [
      ['python', 'print(6 * 7)'],
      ['javascript', 'console.log(6 * 7)'],
      ['bash', 'echo $((6 * 7))'],
    ] as const) {
      const o = observer();
      await runtime.start(request(language, code), o.obs);
      const outcome = await o.done;
      expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, memoryEnforcement: 'cgroup' });
      expect(o.output.stdout).toBe('42\n');
      expect(o.events[0]).toBe('started');
      expect(o.events.at(-1)).toBe('finished');
    }
  });

  test('reports a launch failure as sandbox_error', async () => {
    const o = observer();
    await runtime.start(request('cobol', 'DISPLAY 1'), o.obs);
    expect(await o.done).toMatchObject({ kind: 'error', reason: 'sandbox_error' });
  });

  test('cancel kills the run; adopt is always lost', async () => {
    const o = observer();
    const req = request('bash', 'echo go; sleep 60');
    await runtime.start(req, o.obs);
    await runtime.cancel(req.evaluationId);
    await runtime.cancel('unknown-id');
    expect(await o.done).toMatchObject({ kind: 'exited', signal: 'SIGKILL', timedOut: false });
    expect(await runtime.adopt(req, o.obs)).toBe('lost');
  });
});
