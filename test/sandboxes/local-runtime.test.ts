import { existsSync } from 'node:fs';
import { createLocalSandboxRuntime } from '../../src/runtime/local/sandboxes/local-sandbox-runtime.js';
import { defaultAgentBinary } from '../../src/runtime/local/sandboxes/agent-launcher.js';
import { describeSandboxRuntime } from './runtime-conformance.js';

const skip = !existsSync('/usr/bin/bwrap')
  ? 'bwrap is not installed'
  : !existsSync(defaultAgentBinary())
    ? 'the runner is not built (node scripts/setup.mjs --runner)'
    : null;

describeSandboxRuntime('bwrap', () => createLocalSandboxRuntime({ warmPoolSize: 1 }), skip);
