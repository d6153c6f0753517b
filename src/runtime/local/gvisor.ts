import type { LaunchPlan } from './process-run.js';
import type { SandboxSpec } from './sandbox-types.js';

export interface GvisorBackend {
  plan(spec: SandboxSpec): Promise<LaunchPlan>;
}

export async function gvisorBackend(_dir: string, _warn: (message: string) => void): Promise<GvisorBackend> {
  throw new Error('not yet');
}
