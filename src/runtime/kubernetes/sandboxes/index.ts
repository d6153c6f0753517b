export { createKubernetesSandboxRuntime, type KubernetesSandboxRuntimeOptions } from './runtime.js';
export { buildSandboxPod, sandboxPodName, SANDBOX_LABEL, AGENT_COMMAND, IDLE_COMMAND } from './manifests.js';
