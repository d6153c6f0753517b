import type { AgentClient } from './agent-client.js';
import type { SandboxInstanceSpec } from './sandbox-runtime.js';

/** Bytes one file call may read or write (the agent's frame body limit is 16 MiB). */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * What every backend does to hand a sandbox out: wait for the agent's `ready`, send `init` with the spec's
 * env, and write the initial files into /workspace (as the sandbox user, through the agent).
 */
export async function prepareAgent(client: AgentClient, spec: SandboxInstanceSpec): Promise<void> {
  await client.ready;
  await client.init(spec.env, MAX_FILE_BYTES);
  await Promise.all(spec.files.map((file) => client.writeFile(file.path, file.content, file.mode)));
}
