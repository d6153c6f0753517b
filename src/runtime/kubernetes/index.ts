import type { Runtime } from '../runtime.js';
import { createKubeApi } from './kube-client.js';
import { parseKubernetesOptions, type KubernetesRuntimeOptions } from './options.js';
import { KubernetesRuntime } from './runtime.js';

export { renderEvaluationManifests, buildEvaluationManifests, buildNamespaceManifests } from './manifests.js';
export type { ManifestOptions } from './manifests.js';
export { KubernetesRuntime } from './runtime.js';
export {
  kubernetesRuntimeOptionsSchema,
  parseKubernetesOptions,
  type KubernetesOptions,
  type KubernetesRuntimeOptions,
  type KubernetesRuntimeOptionsInput,
} from './options.js';

/**
 * Creates the Kubernetes runtime. Options are plain data, validated here once.
 *
 * @example
 * const runtime = await createKubernetesRuntime({ namespace: 'crucible-evaluations', runtimeClassName: 'gvisor' });
 */
export async function createKubernetesRuntime(options: KubernetesRuntimeOptions = {}): Promise<Runtime> {
  const { clock, warn, whenPersisted, ...data } = options;
  const parsed = parseKubernetesOptions(data);
  const api = await createKubeApi({ namespace: parsed.namespace, kubeconfigPath: parsed.kubeconfigPath });
  return new KubernetesRuntime({
    api,
    options: parsed,
    clock: clock ?? (() => new Date()),
    warn: warn ?? (() => undefined),
    ...(whenPersisted ? { whenPersisted } : {}),
  });
}
