import { createHash } from 'node:crypto';
import { DEFAULT_LIMITS, type Limits } from '../../core/index.js';
import { createKubeApi } from './kube-client.js';
import { renderEvaluationManifests } from './manifests.js';
import {
  parseKubernetesOptions,
  type KubernetesRuntimeOptions,
  type KubernetesRuntimeOptionsInput,
} from './options.js';
import { KubernetesRuntime } from './runtime.js';
import { tracedKubeApi } from './telemetry.js';

export { renderEvaluationManifests, buildEvaluationManifests, buildNamespaceManifests } from './manifests.js';
export type { ManifestOptions } from './manifests.js';
export { KubernetesRuntime } from './runtime.js';
export { buildProjectManifests, renderProjectManifests } from './namespaces.js';
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
export async function createKubernetesRuntime(
  options: KubernetesRuntimeOptions = {},
): Promise<KubernetesRuntime> {
  const { clock, warn, whenPersisted, traceCall, ...data } = options;
  const parsed = parseKubernetesOptions(data);
  const plain = await createKubeApi({ namespace: parsed.namespace, kubeconfigPath: parsed.kubeconfigPath });
  const api = traceCall ? tracedKubeApi(plain, traceCall) : plain;
  const runtime = new KubernetesRuntime({
    api,
    options: parsed,
    clock: clock ?? (() => new Date()),
    warn: warn ?? (() => undefined),
    ...(whenPersisted ? { whenPersisted } : {}),
  });
  await runtime.readQuotas();
  return runtime;
}

/** One evaluation as a user would submit it, for `renderEvaluation`. */
export interface RenderInput {
  readonly language: string;
  readonly code: string;
  readonly stdin?: string;
  /** Limits not given take the defaults of the core. */
  readonly limits?: Partial<Limits>;
}

/**
 * Every object the runtime would create for one evaluation (namespace NetworkPolicy, payload ConfigMaps,
 * Job), in creation order, without contacting a cluster. The evaluation id is derived from the code so the
 * same input renders the same names.
 *
 * @example
 * const objects = renderEvaluation({ language: 'python', code: 'print(1)' }, { namespace: 'evals' });
 */
export function renderEvaluation(input: RenderInput, options: KubernetesRuntimeOptionsInput = {}): object[] {
  const digest = createHash('sha256').update(input.code).digest('hex').slice(0, 12);
  return renderEvaluationManifests(
    {
      evaluationId: `preview-${digest}`,
      language: input.language,
      code: input.code,
      stdin: input.stdin ?? '',
      limits: { ...DEFAULT_LIMITS, ...input.limits },
      priority: 'normal',
      labels: {},
    },
    parseKubernetesOptions(options),
  );
}
