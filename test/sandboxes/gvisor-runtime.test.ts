import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { defaultAgentBinary } from '../../src/runtime/local/sandboxes/agent-launcher.js';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import { describeSandboxRuntime } from './runtime-conformance.js';

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
  { ctrlC: "gVisor 20221219's pty line discipline does not send SIGINT for a typed Ctrl-C" },
);
