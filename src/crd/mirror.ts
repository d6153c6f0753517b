import type { Evaluation, Submission } from '../core/index.js';
import type { EvaluationMirror } from '../service/index.js';
import { toKubeError } from '../runtime/kubernetes/kube-client.js';
import type { EvaluationApi, EvaluationObject } from './client.js';
import { CANCEL_FINALIZER } from './controller.js';
import { EVALUATION_API_VERSION, EVALUATION_KIND, MIRRORED_ANNOTATION } from './definition.js';

/** The object's name: `http-<evaluation id>` (ids are UUIDs: lower case, digits, hyphens — a DNS name). */
export function mirrorNameOf(evaluationId: string): string {
  return `http-${evaluationId}`.toLowerCase();
}

/**
 * Mirrors an HTTP submission as an `Evaluation` object when the client asks (`?mirror=<namespace>`), so it
 * shows in `kubectl get evaluations` and `kubectl delete` cancels it. The object carries the submission as
 * its spec, the evaluation id in an annotation, and the controller's finalizer from the start; the controller
 * (on the leader) adopts it and writes its status. Repeating the call is harmless: the name is the id's.
 */
/** `namespaces`: those the controller reconciles, or null for all. */
export function createEvaluationMirror(
  api: EvaluationApi,
  namespaces: readonly string[] | null,
): EvaluationMirror {
  return {
    watches: (namespace) => namespaces === null || namespaces.includes(namespace),
    async mirror(evaluation: Evaluation, submission: Submission, namespace: string): Promise<void> {
      const object = {
        apiVersion: EVALUATION_API_VERSION,
        kind: EVALUATION_KIND,
        metadata: {
          name: mirrorNameOf(evaluation.id),
          namespace,
          annotations: { [MIRRORED_ANNOTATION]: evaluation.id },
          finalizers: [CANCEL_FINALIZER],
        },
        spec: specOf(submission),
      } as unknown as EvaluationObject;
      try {
        await api.create(namespace, object);
      } catch (error) {
        if (toKubeError(error).code !== 409) throw error;
      }
    },
  };
}

/** The submission as an object spec: the fields it has, nothing the HTTP API adds. */
function specOf(submission: Submission): Record<string, unknown> {
  const { project: _project, ...spec } = submission as Submission & { project?: string };
  return Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined));
}
