import { platformStagesOf, reachedPlatformStages } from '../core/index.js';
import type {
  Evaluation,
  Grading,
  Limits,
  LogChunk,
  PlatformStages,
  OutputStream,
  Priority,
  Project,
  ProjectLimits,
  Reason,
  Result,
  Status,
  Timings,
  Transition,
} from '../core/index.js';

/** The `platform_stages` column of a transition write: NULL when the backend reached none of them. */
export function platformStagesColumn(timings: Timings): string | null {
  const stages = platformStagesOf(timings);
  return Object.values(stages).every((at) => at === null) ? null : JSON.stringify(stages);
}

/** A row as a driver returns it. */
export type Row = Record<string, unknown>;

/** An evaluation row also carries its `row_order`, which the list cursor needs. */
export interface EvaluationRow {
  readonly evaluation: Evaluation;
  readonly rowOrder: number;
  /** The replica that claimed it, if any. */
  readonly owner: string | null;
}

/** How one adapter's driver hands over the column types that differ between databases. */
export interface Dialect {
  /** For error messages: "SQLite store", "PostgreSQL store". */
  readonly name: string;
  /** An integer column's value, or undefined when it is not one (bigint arrives as a string from pg). */
  readonly integer: (value: unknown) => number | undefined;
  /** A blob/bytea column as a Buffer (a view, not a copy: log reads can be large), or undefined. */
  readonly bytes: (value: unknown) => Buffer | undefined;
  /** A JSON column's value: SQLite keeps it as text, pg parses json columns itself. */
  readonly json: (value: unknown) => unknown;
  /** `stdin` as text: SQLite stores text, PostgreSQL bytea (its text cannot hold NUL). */
  readonly stdin: (value: unknown) => string | undefined;
}

export interface RowMapping {
  toEvaluationRow(row: Row): EvaluationRow;
  toProject(row: Row): Project;
  toTransition(row: Row): Transition;
  toLogChunk(row: Row): LogChunk;
  integer(row: Row, column: string): number;
}

/**
 * Rows to domain objects, once for every adapter: the shapes are the same, only a few column types differ
 * (the `Dialect`). A wrong column type means the schema and this code disagree: it fails loudly rather than
 * return bad data.
 */
export function rowMapping(dialect: Dialect): RowMapping {
  const columnError = (column: string, expected: string, value: unknown): Error => {
    const got = value === null ? 'NULL' : value === undefined ? 'no such column' : typeof value;
    return new Error(`${dialect.name}: column ${column} should be ${expected}, got ${got}`);
  };
  // NULL (or a row read before the column existed): no platform stages.
  const platformStages = (row: Row): Partial<PlatformStages> => {
    const value = row['platform_stages'];
    if (value === null || value === undefined) return {};
    return reachedPlatformStages(dialect.json(value) as Partial<PlatformStages>);
  };
  const text = (row: Row, column: string): string => {
    const value = row[column];
    if (typeof value !== 'string') throw columnError(column, 'text', value);
    return value;
  };
  const textOrNull = (row: Row, column: string): string | null => {
    const value = row[column];
    if (value === null) return null;
    if (typeof value !== 'string') throw columnError(column, 'text or NULL', value);
    return value;
  };
  const integer = (row: Row, column: string): number => {
    const value = dialect.integer(row[column]);
    if (value === undefined || !Number.isSafeInteger(value))
      throw columnError(column, 'an integer', row[column]);
    return value;
  };
  const bytes = (row: Row, column: string): Buffer => {
    const value = dialect.bytes(row[column]);
    if (!value) throw columnError(column, 'bytes', row[column]);
    return value;
  };
  const json = (row: Row, column: string): unknown => {
    const value = row[column] === undefined ? undefined : dialect.json(row[column]);
    if (value === undefined) throw columnError(column, 'JSON', row[column]);
    return value;
  };

  return {
    integer,
    toEvaluationRow(row) {
      const result = row['result'] === null ? null : (json(row, 'result') as Partial<Result>);
      const stdin = dialect.stdin(row['stdin']);
      if (stdin === undefined) throw columnError('stdin', 'text', row['stdin']);
      const project = textOrNull(row, 'project');
      const user = textOrNull(row, 'user_name');
      const evaluation: Evaluation = {
        id: text(row, 'id'),
        status: text(row, 'status') as Status,
        language: text(row, 'language'),
        code: text(row, 'code'),
        stdin,
        priority: text(row, 'priority') as Priority,
        labels: json(row, 'labels') as Record<string, string>,
        limits: json(row, 'limits') as Limits,
        runtime: text(row, 'runtime'),
        // Absent rather than null, so evaluations without a project look as they did before projects existed.
        ...(project === null ? {} : { project }),
        ...(user === null ? {} : { user }),
        // NULL (a plain evaluation) or absent (a query without the column) leaves the key out.
        ...(row['grading'] === null || row['grading'] === undefined
          ? {}
          : { grading: json(row, 'grading') as Grading }),
        createdAt: text(row, 'created_at'),
        timings: {
          submittedAt: text(row, 'submitted_at'),
          dispatchedAt: textOrNull(row, 'dispatched_at'),
          startedAt: textOrNull(row, 'started_at'),
          finishedAt: textOrNull(row, 'finished_at'),
          storedAt: textOrNull(row, 'stored_at'),
          ...platformStages(row),
        },
        // Rows stored before `outputComplete` existed read as complete: nothing said otherwise then.
        result:
          result === null ? null : ({ ...result, outputComplete: result.outputComplete ?? true } as Result),
      };
      return { evaluation, rowOrder: integer(row, 'row_order'), owner: textOrNull(row, 'owner') };
    },
    toProject(row) {
      return {
        id: text(row, 'id'),
        name: text(row, 'name'),
        namespace: text(row, 'namespace'),
        limits: json(row, 'limits') as ProjectLimits,
        egress: json(row, 'egress') as string[],
        createdAt: text(row, 'created_at'),
      };
    },
    toTransition(row) {
      return {
        seq: integer(row, 'seq'),
        evaluationId: text(row, 'evaluation_id'),
        from: textOrNull(row, 'from_status') as Status | null,
        to: text(row, 'to_status') as Status,
        at: text(row, 'at'),
        reason: textOrNull(row, 'reason') as Reason | null,
      };
    },
    toLogChunk(row) {
      return {
        evaluationId: text(row, 'evaluation_id'),
        seq: integer(row, 'seq'),
        stream: text(row, 'stream') as OutputStream,
        data: bytes(row, 'data'),
        at: text(row, 'at'),
      };
    },
  };
}
