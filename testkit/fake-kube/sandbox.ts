import { createSandbox, type Sandbox } from '../../src/runtime/local/index.js';

export type { Sandbox, SandboxFile, SandboxHandle } from '../../src/runtime/local/index.js';

/**
 * The fake kubelet runs each pod's command in the real local sandbox (bwrap), so pod output, exit codes,
 * signals and OOM kills are real, not simulated.
 */
export function loadSandbox(stateDir: string): Promise<Sandbox> {
  // Launched directly, not through the spawner helper: pods share this process with the fake API server.
  return createSandbox({ isolation: 'bwrap', stateDir, warn: () => undefined, launcher: 'direct' });
}
