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

/** A row as `pg` returns it: bigint as string, bytea as Buffer, json/jsonb parsed. */
export type Row = Record<string, unknown>;

export interface EvaluationRow {
  readonly evaluation: Evaluation;
  readonly rowOrder: number;
  readonly owner: string | null;
}

export function toEvaluationRow(row: Row): EvaluationRow {
  const result = row['result'] as Partial<Result> | null;
  const evaluation: Evaluation = {
    id: text(row, 'id'),
    status: text(row, 'status') as Status,
    language: text(row, 'language'),
    code: text(row, 'code'),
    stdin: bytes(row, 'stdin').toString('utf8'),
    priority: text(row, 'priority') as Priority,
    labels: row['labels'] as Record<string, string>,
    limits: row['limits'] as Limits,
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
    // Rows written before `outputComplete` existed read as complete, as in the SQLite adapter.
    result: result === null ? null : ({ ...result, outputComplete: result.outputComplete ?? true } as Result),
  };
  return { evaluation, rowOrder: integer(row, 'row_order'), owner: textOrNull(row, 'owner') };
}

function projectOf(project: string | null): { project?: string } {
  return project === null ? {} : { project };
}

export function toProject(row: Row): Project {
  return {
    id: text(row, 'id'),
    name: text(row, 'name'),
    namespace: text(row, 'namespace'),
    limits: row['limits'] as ProjectLimits,
    egress: row['egress'] as string[],
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
  return {
    evaluationId: text(row, 'evaluation_id'),
    seq: integer(row, 'seq'),
    stream: text(row, 'stream') as OutputStream,
    data: bytes(row, 'data'),
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

/** integer columns arrive as numbers, bigint ones as strings (pg keeps 64-bit values exact). */
export function integer(row: Row, column: string): number {
  const value = row[column];
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number))
    throw columnError(column, 'an integer', value);
  return number;
}

function bytes(row: Row, column: string): Buffer {
  const value = row[column];
  if (!Buffer.isBuffer(value)) throw columnError(column, 'bytea', value);
  return value;
}

// A wrong column type means the schema and this code disagree: fail loudly rather than return bad data.
function columnError(column: string, expected: string, value: unknown): Error {
  const got = value === null ? 'NULL' : value === undefined ? 'no such column' : typeof value;
  return new Error(`PostgreSQL store: column ${column} should be ${expected}, got ${got}`);
}
