import { rowMapping } from '../row-mapping.js';

export type { EvaluationRow, Row } from '../row-mapping.js';

/** Column list shared by every evaluation query, so the mapper below always gets the same shape. */
export const EVALUATION_COLUMNS =
  'e.row_order, e.id, e.status, e.language, e.code, e.stdin, e.priority, e.labels, e.limits, e.runtime, ' +
  'e.created_at, e.submitted_at, e.dispatched_at, e.started_at, e.finished_at, e.stored_at, e.result, e.owner, e.project, e.user_name';

/** node:sqlite: integers as numbers, blobs as Uint8Array, JSON kept as text. */
export const { toEvaluationRow, toProject, toTransition, toLogChunk, integer } = rowMapping({
  name: 'SQLite store',
  integer: (value) => (typeof value === 'number' ? value : undefined),
  bytes: (value) =>
    value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : undefined,
  json: (value) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : undefined),
  stdin: (value) => (typeof value === 'string' ? value : undefined),
});
