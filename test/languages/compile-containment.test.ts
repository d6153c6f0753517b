import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DEFAULT_LIMITS, type LanguageSpec } from '../../src/core/index.js';
import { createSandbox, type Sandbox } from '../../src/runtime/local/index.js';
import { startStagedRun } from '../../src/runtime/local/staged-run.js';
import { describeSandboxed } from '../support/requirements.js';

/**
 * A "compiler" that is a fork bomb: the compile stage's own limits (processes, time) contain it, the
 * program never runs, and nothing of it outlives the stage.
 */
const FORK_BOMB_COMPILER: LanguageSpec = {
  id: 'forkbomb',
  displayName: 'a compiler that forks without end',
  fileName: 'main.x',
  extensions: ['.x'],
  interpreter: '/build/main',
  args: () => [],
  compile: {
    argv: () => ['bash', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 30'],
    limits: { timeoutSeconds: 5, memoryMb: 256, maxProcesses: 32, tmpSizeMb: 16, buildSizeMb: 8 },
    sourceExtensions: ['.x'],
  },
  packages: [],
  requires: [],
  versionCommand: [],
  installedByDefault: false,
  image: 'none',
};

/**
 * Processes still running the bomb (any user: other suites' sandboxes also run as 65534). Not bwrap itself:
 * the warm pool pre-spawns the next compile stages of this "language", which wait at the gate as bwrap
 * processes whose arguments hold the same command line (the bomb runs as bash once started).
 */
function bombProcesses(): number {
  const out = execFileSync('/usr/bin/ps', ['-eo', 'args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes('bomb | bomb') && !/^\S*bwrap /.test(line)).length;
}

describeSandboxed('the compile stage contains a fork bomb (bwrap)', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await createSandbox({ isolation: 'bwrap', stateDir: `/tmp/crucible-lang-bomb-${process.pid}` });
  });
  afterAll(() => sandbox?.close());

  test('the compile ends compile-failed within its time limit and leaves no process behind', async () => {
    const started = Date.now();
    const run = startStagedRun(
      sandbox,
      {
        evaluationId: 'bomb',
        language: 'forkbomb',
        code: '',
        stdin: '',
        limits: DEFAULT_LIMITS,
        priority: 'normal',
        labels: {},
      },
      FORK_BOMB_COMPILER,
      { started: () => undefined, output: () => undefined },
      () => undefined,
    );
    const outcome = await run.outcome;
    expect(outcome.kind).toBe('exited');
    if (outcome.kind !== 'exited') return;
    expect(outcome.compile?.succeeded).toBe(false);
    expect(outcome.compile?.timedOut).toBe(true);
    // Its own 5 s limit, not the evaluation's 30 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(outcome.testRuns).toBeUndefined();
    expect(bombProcesses()).toBe(0);
  }, 30_000);
});
