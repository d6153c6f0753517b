import type {
  ExecExit,
  ExecLogChunk,
  ExecRecord,
  SandboxPatch,
  SandboxRecord,
  SandboxStatus,
} from './sandboxes.js';

/** The column lists and row mapping both adapters share (their SQL differs only in placeholders and types). */
export const SANDBOX_COLUMNS =
  'id, user_name, project, language, status, memory_mb, workspace_mb, idle_timeout_seconds, max_lifetime_seconds, labels, env, runtime, snapshot_key, snapshot_bytes, error, created_at, last_active_at, hibernated_at, terminated_at, owner';

export const EXEC_COLUMNS = 'id, sandbox_id, argv, status, exit, started_at, finished_at';

export function sandboxValues(s: SandboxRecord): unknown[] {
  return [
    s.id,
    s.user,
    s.project,
    s.language,
    s.status,
    s.memoryMb,
    s.workspaceMb,
    s.idleTimeoutSeconds,
    s.maxLifetimeSeconds,
    JSON.stringify(s.labels),
    JSON.stringify(s.env),
    s.runtime,
    s.snapshotKey,
    s.snapshotBytes,
    s.error,
    s.createdAt,
    s.lastActiveAt,
    s.hibernatedAt,
    s.terminatedAt,
    s.owner,
  ];
}

const PATCH_COLUMNS: Record<keyof SandboxPatch, string> = {
  status: 'status',
  snapshotKey: 'snapshot_key',
  snapshotBytes: 'snapshot_bytes',
  error: 'error',
  lastActiveAt: 'last_active_at',
  hibernatedAt: 'hibernated_at',
  terminatedAt: 'terminated_at',
  owner: 'owner',
};

/** `SET a = ?, b = ?` pieces of a patch (placeholder from `mark`) and their values, in the same order. */
export function patchAssignments(
  patch: SandboxPatch,
  mark: (index: number) => string,
): { sets: string[]; values: unknown[] } {
  const sets: string[] = [];
  const values: unknown[] = [];
  for (const [key, column] of Object.entries(PATCH_COLUMNS) as [keyof SandboxPatch, string][]) {
    if (!(key in patch)) continue;
    values.push(patch[key] ?? null);
    sets.push(`${column} = ${mark(values.length)}`);
  }
  return { sets, values };
}

type Row = Record<string, unknown>;
const text = (row: Row, key: string) =>
  row[key] === null || row[key] === undefined ? null : String(row[key]);
const number = (row: Row, key: string) =>
  row[key] === null || row[key] === undefined ? null : Number(row[key]);

export function toSandbox(row: Row): SandboxRecord {
  return {
    id: String(row['id']),
    user: text(row, 'user_name'),
    project: text(row, 'project'),
    language: String(row['language']),
    status: String(row['status']) as SandboxStatus,
    memoryMb: Number(row['memory_mb']),
    workspaceMb: Number(row['workspace_mb']),
    idleTimeoutSeconds: Number(row['idle_timeout_seconds']),
    maxLifetimeSeconds: number(row, 'max_lifetime_seconds'),
    labels: JSON.parse(String(row['labels'])) as Record<string, string>,
    env: JSON.parse(String(row['env'])) as Record<string, string>,
    runtime: String(row['runtime']),
    snapshotKey: text(row, 'snapshot_key'),
    snapshotBytes: number(row, 'snapshot_bytes'),
    error: text(row, 'error'),
    createdAt: String(row['created_at']),
    lastActiveAt: String(row['last_active_at']),
    hibernatedAt: text(row, 'hibernated_at'),
    terminatedAt: text(row, 'terminated_at'),
    owner: text(row, 'owner'),
  };
}

export function execValues(e: ExecRecord): unknown[] {
  return [
    e.id,
    e.sandboxId,
    JSON.stringify(e.argv),
    e.status,
    e.exit ? JSON.stringify(e.exit) : null,
    e.startedAt,
    e.finishedAt,
  ];
}

export function toExec(row: Row): ExecRecord {
  const exit = text(row, 'exit');
  return {
    id: String(row['id']),
    sandboxId: String(row['sandbox_id']),
    argv: JSON.parse(String(row['argv'])) as string[],
    status: String(row['status']) as ExecRecord['status'],
    exit: exit ? (JSON.parse(exit) as ExecExit) : null,
    startedAt: String(row['started_at']),
    finishedAt: text(row, 'finished_at'),
  };
}

export function toExecChunk(row: Row): ExecLogChunk {
  const data = row['data'];
  return {
    execId: String(row['exec_id']),
    seq: Number(row['seq']),
    stream: row['stream'] === 'stderr' ? 'stderr' : 'stdout',
    data: Buffer.isBuffer(data) ? data : Buffer.from(data as Uint8Array),
  };
}
