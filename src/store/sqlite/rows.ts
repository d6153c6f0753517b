import type { SQLOutputValue } from 'node:sqlite';
import type {
  Evaluation,
  Limits,
  LogChunk,
  OutputStream,
  Priority,
  Project,
  ProjectLimits,
  Reason,
  Result,
  Status,
  Transition,
} from '../../core/index.js';

/** A row as `node:sqlite` returns it. */
export type Row = Record<string, SQLOutputValue>;

/** An evaluation row also carries its `row_order`, which the list cursor needs. */
export interface EvaluationRow {
  readonly evaluation: Evaluation;
  readonly rowOrder: number;
  /** The replica that claimed it, if any. */
  readonly owner: string | null;
}

/** Column list shared by every evaluation query, so the mapper below always gets the same shape. */
export const EVALUATION_COLUMNS =
  'e.row_order, e.id, e.status, e.language, e.code, e.stdin, e.priority, e.labels, e.limits, e.runtime, ' +
  'e.created_at, e.submitted_at, e.dispatched_at, e.started_at, e.finished_at, e.stored_at, e.result, e.owner, e.project';

export function toEvaluationRow(row: Row): EvaluationRow {
  const resultJson = textOrNull(row, 'result');
  const evaluation: Evaluation = {
    id: text(row, 'id'),
    status: text(row, 'status') as Status,
    language: text(row, 'language'),
    code: text(row, 'code'),
    stdin: text(row, 'stdin'),
    priority: text(row, 'priority') as Priority,
    labels: JSON.parse(text(row, 'labels')) as Record<string, string>,
    limits: JSON.parse(text(row, 'limits')) as Limits,
    runtime: text(row, 'runtime'),
    // Absent rather than null, so evaluations without a project look as they did before projects existed.
    ...projectOf(textOrNull(row, 'project')),
    createdAt: text(row, 'created_at'),
    timings: {
      submittedAt: text(row, 'submitted_at'),
      dispatchedAt: textOrNull(row, 'dispatched_at'),
      startedAt: textOrNull(row, 'started_at'),
      finishedAt: textOrNull(row, 'finished_at'),
      storedAt: textOrNull(row, 'stored_at'),
    },
    result: resultJson === null ? null : withDefaults(JSON.parse(resultJson) as Partial<Result>),
  };
  return { evaluation, rowOrder: integer(row, 'row_order'), owner: textOrNull(row, 'owner') };
}

/** Rows stored before `outputComplete` existed read as complete: nothing said otherwise then. */
function withDefaults(result: Partial<Result>): Result {
  return { ...result, outputComplete: result.outputComplete ?? true } as Result;
}

function projectOf(project: string | null): { project?: string } {
  return project === null ? {} : { project };
}

export function toProject(row: Row): Project {
  return {
    id: text(row, 'id'),
    name: text(row, 'name'),
    namespace: text(row, 'namespace'),
    limits: JSON.parse(text(row, 'limits')) as ProjectLimits,
    egress: JSON.parse(text(row, 'egress')) as string[],
    createdAt: text(row, 'created_at'),
  };
}

export function toTransition(row: Row): Transition {
  return {
    seq: integer(row, 'seq'),
    evaluationId: text(row, 'evaluation_id'),
    from: textOrNull(row, 'from_status') as Status | null,
    to: text(row, 'to_status') as Status,
    at: text(row, 'at'),
    reason: textOrNull(row, 'reason') as Reason | null,
  };
}

export function toLogChunk(row: Row): LogChunk {
  const data = row['data'];
  if (!(data instanceof Uint8Array)) throw columnError('data', 'a blob', data);
  return {
    evaluationId: text(row, 'evaluation_id'),
    seq: integer(row, 'seq'),
    stream: text(row, 'stream') as OutputStream,
    // A view over the driver's bytes, not a copy: log reads can be large.
    data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    at: text(row, 'at'),
  };
}

function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw columnError(column, 'text', value);
  return value;
}

function textOrNull(row: Row, column: string): string | null {
  const value = row[column];
  if (value === null) return null;
  if (typeof value !== 'string') throw columnError(column, 'text or NULL', value);
  return value;
}

function integer(row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== 'number') throw columnError(column, 'an integer', value);
  return value;
}

// A wrong column type means the schema and this code disagree: fail loudly rather than return bad data.
function columnError(column: string, expected: string, value: SQLOutputValue | undefined): Error {
  const got = value === null ? 'NULL' : value === undefined ? 'no such column' : typeof value;
  return new Error(`SQLite store: column ${column} should be ${expected}, got ${got}`);
}
