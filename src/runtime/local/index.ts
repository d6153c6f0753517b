export { createLocalRuntime, sandboxSpecFor } from './local-runtime.js';
export { createSandbox } from './sandbox.js';
export type {
  Isolation,
  Sandbox,
  SandboxExit,
  SandboxFile,
  SandboxHandle,
  SandboxOptions,
  SandboxSpec,
} from './sandbox-types.js';
