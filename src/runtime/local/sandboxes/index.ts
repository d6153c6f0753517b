export { createLocalSandboxRuntime, type LocalSandboxRuntimeOptions } from './local-sandbox-runtime.js';
export { defaultAgentBinary } from './agent-launcher.js';
