import type { ExecExit, SandboxRecord, SandboxStatus } from '../store/store.js';

/**
 * Errors of the sandbox calls whose codes are theirs alone (the shared CrucibleError codes cover the rest:
 * not_found, invalid_request, quota_exceeded, idempotency_conflict). The sandbox routes map `status`.
 */
export class SandboxError extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = 'SandboxError';
  }

  get status(): number {
    return SANDBOX_ERROR_STATUS[this.code];
  }
}

export const SANDBOX_ERROR_STATUS = {
  path_outside_workspace: 400,
  not_a_regular_file: 400,
  file_too_large: 413,
  workspace_full: 507,
  /** The sandbox is terminated (or in error): nothing more runs in it. */
  sandbox_terminated: 409,
  /** Its agent could not be reached (it crashed, or the platform lost it). */
  sandbox_unavailable: 503,
  not_found: 404,
  io_error: 500,
} as const;

export type SandboxErrorCode = keyof typeof SANDBOX_ERROR_STATUS;

/** An agent error code (docs/sandboxes.md) as the API's error; unknown codes are io errors. */
export function fromAgentCode(code: string, message: string, field: string | null): SandboxError {
  if (code === 'invalid_request') return new SandboxError('not_a_regular_file', message, field);
  const known = (Object.keys(SANDBOX_ERROR_STATUS) as SandboxErrorCode[]).find((c) => c === code);
  return new SandboxError(known ?? 'io_error', message, field);
}

/** What `POST /v1/sandboxes` accepts (validated by the route's schema first). */
export interface NewSandbox {
  readonly language?: string;
  readonly memoryMb?: number;
  readonly workspaceMb?: number;
  readonly idleTimeoutSeconds?: number;
  readonly maxLifetimeSeconds?: number;
  readonly labels?: Record<string, string>;
  readonly env?: Record<string, string>;
  readonly project?: string;
  /** Placed in /workspace before the sandbox is ready; `content` is UTF-8 unless `encoding` says base64. */
  readonly files?: readonly { path: string; content: string; encoding?: 'utf8' | 'base64'; mode?: number }[];
}

export interface ExecRequest {
  readonly command: readonly string[] | string;
  readonly stdin?: string;
  readonly timeoutSeconds?: number;
  readonly cwd?: string;
  readonly env?: Record<string, string>;
}

/** A sandbox as the API shows it (its env values are not shown: they may hold secrets). */
export interface SandboxView {
  readonly id: string;
  readonly status: SandboxStatus;
  readonly language: string;
  readonly user: string | null;
  readonly project: string | null;
  readonly memoryMb: number;
  readonly workspaceMb: number;
  readonly idleTimeoutSeconds: number;
  readonly maxLifetimeSeconds: number | null;
  readonly labels: Record<string, string>;
  readonly envKeys: string[];
  readonly runtime: string;
  readonly snapshotBytes: number | null;
  readonly error: string | null;
  readonly createdAt: string;
  readonly lastActiveAt: string;
  readonly hibernatedAt: string | null;
  readonly terminatedAt: string | null;
}

export function viewOf(record: SandboxRecord, lastActiveAt?: string): SandboxView {
  return {
    id: record.id,
    status: record.status,
    language: record.language,
    user: record.user,
    project: record.project,
    memoryMb: record.memoryMb,
    workspaceMb: record.workspaceMb,
    idleTimeoutSeconds: record.idleTimeoutSeconds,
    maxLifetimeSeconds: record.maxLifetimeSeconds,
    labels: { ...record.labels },
    envKeys: Object.keys(record.env).sort(),
    runtime: record.runtime,
    snapshotBytes: record.snapshotBytes,
    error: record.error,
    createdAt: record.createdAt,
    lastActiveAt: lastActiveAt ?? record.lastActiveAt,
    hibernatedAt: record.hibernatedAt,
    terminatedAt: record.terminatedAt,
  };
}

/** One line of an exec's stream: a chunk of output (with its seq), or the end. */
export type ExecEvent =
  | { readonly seq: number; readonly stream: 'stdout' | 'stderr'; readonly data: Buffer }
  | { readonly exit: ExecExit | null; readonly status: 'finished' | 'lost' };
