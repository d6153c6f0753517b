import type { Evaluation } from '../core/index.js';
import type { EvaluationWithOutput } from '../service/index.js';
import type { z } from 'zod';
import type { EvaluationSchema } from './schemas.js';

export type EvaluationView = z.infer<typeof EvaluationSchema>;

/** The public shape of an evaluation (the contract's fields and ours); output only when it was read. */
export function toView(
  evaluation: Evaluation,
  output?: Omit<EvaluationWithOutput, 'evaluation'>,
): EvaluationView {
  return {
    id: evaluation.id,
    status: evaluation.status,
    language: evaluation.language,
    priority: evaluation.priority,
    labels: { ...evaluation.labels },
    runtime: evaluation.runtime,
    limits: { ...evaluation.limits },
    createdAt: evaluation.createdAt,
    result: evaluation.result
      ? { ...evaluation.result, stdout: output?.stdout ?? '', stderr: output?.stderr ?? '' }
      : null,
    timings: { ...evaluation.timings },
  };
}
