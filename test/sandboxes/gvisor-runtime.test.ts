import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultAgentBinary } from '../../src/runtime/local/sandboxes/agent-launcher.js';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import { describeSandboxRuntime, openScreen, sandboxSpec } from './runtime-conformance.js';

// The same conformance suite as bwrap (local-runtime.test.ts), with the sandboxes under gVisor.
const skip = !existsSync('/usr/bin/runsc')
  ? 'runsc (gVisor) is not installed'
  : !existsSync(defaultAgentBinary())
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

const stateDir = mkdtempSync(join(tmpdir(), 'crucible-gvisor-sbx-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describeSandboxRuntime(
  'gvisor',
  () => createLocalSandboxRuntime({ isolation: 'gvisor', stateDir, warmPoolSize: 1 }),
  skip,
);

// gVisor answers TIOCGPGRP only inside the terminal's session: the agent asks the shell's session helper
// (runner/src/agent/pty_signals.rs), so an explicit signal reaches the foreground job, not the shell.
describe.skipIf(skip !== null)('gvisor PTY signals', () => {
  it('sends {"signal"} to the foreground program; the shell lives on', async () => {
    const runtime = await createLocalSandboxRuntime({ isolation: 'gvisor', stateDir, warmPoolSize: 0 });
    const instance = await runtime.create(sandboxSpec('gvisor-signal'));
    try {
      const { pty, screen, until } = await openScreen(await instance.connect());
      pty.input(
        Buffer.from(
          `python3 -c 'import time; print("fore" + "ground", flush=True); time.sleep(30)'; echo rc=$?\n`,
        ),
      );
      await until('foreground');
      pty.signal('SIGTERM');
      await until('rc=143');
      pty.input(Buffer.from('echo alive-$((1+1))\n'));
      await until('alive-2');
      expect(screen()).toContain('rc=143');
      pty.input(Buffer.from('exit\n'));
      await pty.exited;
    } finally {
      await instance.destroy();
      await runtime.close();
    }
  }, 60_000);
});
