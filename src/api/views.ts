import { platformStagesOf, stageDurations, type Evaluation } from '../core/index.js';
import type { EvaluationWithOutput } from '../service/index.js';
import type { z } from 'zod';
import type { EvaluationSchema, ListItemSchema } from './schemas.js';

export type EvaluationView = z.infer<typeof EvaluationSchema>;
export type ListItemView = z.infer<typeof ListItemSchema>;

/**
 * The public shape of an evaluation (the contract's fields and ours). Pass `output` whenever the evaluation
 * has a result: without it `stdout`/`stderr` are empty, which is only right for one that has not run.
 */
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
    ...(evaluation.project ? { project: evaluation.project } : {}),
    user: evaluation.user ?? null,
    limits: { ...evaluation.limits },
    createdAt: evaluation.createdAt,
    result: evaluation.result
      ? { ...evaluation.result, stdout: output?.stdout ?? '', stderr: output?.stderr ?? '' }
      : null,
    timings: { ...evaluation.timings, ...platformStagesOf(evaluation.timings) },
    durations: stageDurations(evaluation.timings),
  };
}

/**
 * A list item: the evaluation without its output. `result` has no `stdout`/`stderr` keys at all (rather than
 * empty strings a client could take for "printed nothing") and `outputIncluded: false` says so; the output is
 * at `GET /v1/evaluations/{id}` or `/logs`.
 */
export function toListItem(evaluation: Evaluation): ListItemView {
  const { result, ...rest } = toView(evaluation);
  if (!result) return { ...rest, result: null, outputIncluded: false };
  const { stdout: _stdout, stderr: _stderr, ...withoutOutput } = result;
  return { ...rest, result: withoutOutput, outputIncluded: false };
}
