import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import { defaultAgentBinary } from '../../src/runtime/local/sandboxes/agent-launcher.js';
import { describeSandboxRuntime, sandboxSpec } from './runtime-conformance.js';

/** The commands of this process's children (ps exits 1 when there are none). */
function childCommands(): string[] {
  try {
    return execFileSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}

const skip = !existsSync('/usr/bin/bwrap')
  ? 'bwrap is not installed'
  : !existsSync(defaultAgentBinary())
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

describeSandboxRuntime('bwrap', () => createLocalSandboxRuntime({ warmPoolSize: 1 }), skip);

describe.skipIf(skip !== null)('local sandbox runtime close', () => {
  it('waits for a warm-pool boot in flight: nothing it started is left once close resolves', async () => {
    const runtime = await createLocalSandboxRuntime({ warmPoolSize: 1 });
    const instance = await runtime.create(sandboxSpec('close-during-refill')); // starts a refill
    await instance.destroy();
    await runtime.close();
    expect(childCommands()).not.toContain('bwrap');
  });
});
