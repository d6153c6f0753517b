import type { V1EnvVar } from '@kubernetes/client-node';
import { configFromEnv, ServerConfigSchema, type ServerConfig } from '../../src/config/index.js';
import { apiDeployment, serverEnvironment, type KubeObject } from './render.js';

/** What the store URL looks like to the parser; the real one is in the operator's Secret. */
export const PLACEHOLDER_STORE = 'postgres://crucible:placeholder@postgres.example:5432/crucible';

/** The flags the Deployment passes to `crucible serve`, as the config field each sets. */
const FLAGS: Record<string, keyof ServerConfig> = { '--backend': 'backend', '--store': 'store' };

/**
 * The configuration a replica of the rendered Deployment starts with: its environment (ConfigMap, Secret,
 * downward API) and its `serve` flags, through the server's own parser — so a value the server would refuse,
 * or a name it does not read, shows here.
 */
export function serverConfigOf(objects: readonly KubeObject[]): ServerConfig {
  const deployment = apiDeployment(objects);
  const env: Record<string, string> = {};
  for (const [name, value] of serverEnvironment(objects)) env[name] = resolved(value, deployment.metadata!);
  const input: Record<string, unknown> = { ...configFromEnv(env) };
  const args = deployment.spec!.template.spec!.containers[0]!.args ?? [];
  if (args[0] !== 'serve') throw new Error(`the container runs ${args[0]}, not serve`);
  for (let i = 1; i < args.length; i += 2) {
    const field = FLAGS[args[i]!];
    if (!field) throw new Error(`flag ${args[i]} unknown to this test; add it to FLAGS`);
    input[field] = args[i + 1];
  }
  return ServerConfigSchema.parse(input);
}

function resolved(value: string | V1EnvVar, pod: { name?: string; namespace?: string }): string {
  if (typeof value === 'string') return value;
  const source = value.valueFrom;
  if (source?.secretKeyRef && value.name === 'CRUCIBLE_STORE') return PLACEHOLDER_STORE;
  if (source?.secretKeyRef && value.name === 'CRUCIBLE_ADMIN_TOKEN')
    return 'a-stand-in-admin-token-of-32-chars';
  if (source?.fieldRef?.fieldPath === 'metadata.name') return `${pod.name}-5d8f7c9b4-x2kq7`;
  if (source?.fieldRef?.fieldPath === 'metadata.namespace') return pod.namespace ?? 'default';
  throw new Error(`no stand-in for ${value.name}'s source`);
}
