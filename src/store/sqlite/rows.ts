import type { Evaluation } from '../../core/index.js';
import { submittedMs } from '../claim.js';
import { rowMapping } from '../row-mapping.js';

export type { EvaluationRow, Row } from '../row-mapping.js';

/** Column list shared by every evaluation query, so the mapper below always gets the same shape. */
export const EVALUATION_COLUMNS =
  'e.row_order, e.id, e.status, e.language, e.code, e.stdin, e.priority, e.labels, e.limits, e.runtime, ' +
  'e.created_at, e.submitted_at, e.dispatched_at, e.started_at, e.finished_at, e.stored_at, e.result, e.owner, e.project, e.user_name, ' +
  'e.platform_stages, e.grading';

/** node:sqlite: integers as numbers, blobs as Uint8Array, JSON kept as text. */
export const { toEvaluationRow, toProject, toTransition, toLogChunk, integer } = rowMapping({
  name: 'SQLite store',
  integer: (value) => (typeof value === 'number' ? value : undefined),
  bytes: (value) =>
    value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : undefined,
  json: (value) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : undefined),
  stdin: (value) => (typeof value === 'string' ? value : undefined),
});

/** The parameters of `insertEvaluation` (sql.ts) for one evaluation, in its column order. */
export function evaluationInsertValues(e: Evaluation): (string | number | null)[] {
  const t = e.timings;
  return [
    e.id,
    e.status,
    e.language,
    e.code,
    e.stdin,
    e.priority,
    JSON.stringify(e.labels),
    JSON.stringify(e.limits),
    e.runtime,
    e.createdAt,
    t.submittedAt,
    t.dispatchedAt,
    t.startedAt,
    t.finishedAt,
    t.storedAt,
    e.result === null ? null : JSON.stringify(e.result),
    submittedMs(e),
    e.project ?? null,
    e.user ?? null,
  ];
}
