import { rowMapping } from '../row-mapping.js';

export type { EvaluationRow, Row } from '../row-mapping.js';

/** pg: bigint as string (kept exact), bytea as Buffer, json parsed; stdin is bytea (text cannot hold NUL). */
export const { toEvaluationRow, toProject, toTransition, toLogChunk, integer } = rowMapping({
  name: 'PostgreSQL store',
  integer: (value) =>
    typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : undefined,
  bytes: (value) => (Buffer.isBuffer(value) ? value : undefined),
  json: (value) => value,
  stdin: (value) => (Buffer.isBuffer(value) ? value.toString('utf8') : undefined),
});
