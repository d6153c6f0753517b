import { retryUntil, type RetryOptions } from './backoff.js';
import type { KubeApi } from './kube-client.js';
import type { EvaluationManifests } from './manifests.js';
import { EVALUATION_LABEL, evaluationLabel, jobName } from './names.js';

/**
 * Creating and deleting one evaluation's objects, each call retried on API faults. Both are idempotent: the
 * names are a function of the evaluation id, so a create repeated after a lost answer gets 409 and adopts
 * what is there, and a delete of what is gone is a no-op.
 */

/** The payload ConfigMaps first (the pod mounts them), then the Job. */
export async function createEvaluationObjects(
  api: KubeApi,
  { configMaps, job }: EvaluationManifests,
  retry: RetryOptions,
): Promise<void> {
  for (const configMap of configMaps) {
    const name = configMap.metadata?.name ?? '';
    await retryUntil(`create ConfigMap ${name}`, () => api.createConfigMap(configMap), retry);
  }
  await retryUntil(`create Job ${job.metadata?.name ?? ''}`, () => api.createJob(job), retry);
}

/** The Job (Background propagation: its pod with it), then the ConfigMaps. */
export async function deleteEvaluationObjects(
  api: KubeApi,
  evaluationId: string,
  retry: RetryOptions,
): Promise<void> {
  const name = jobName(evaluationId);
  await retryUntil(`delete Job ${name}`, () => api.deleteJob(name), retry);
  const selector = `${EVALUATION_LABEL}=${evaluationLabel(evaluationId)}`;
  await retryUntil(`delete ConfigMaps of ${name}`, () => api.deleteConfigMaps(selector), retry);
}
