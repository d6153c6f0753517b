import type { ExecExit, SandboxRecord } from '../store/store.js';

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

/**
 * A sandbox as the API shows it: the record without its env values (they may hold secrets: only `envKeys`),
 * its snapshot's object key and its owning replica (server internals).
 */
export type SandboxView = Omit<SandboxRecord, 'env' | 'snapshotKey' | 'owner' | 'labels'> & {
  readonly labels: Record<string, string>;
  readonly envKeys: string[];
};

export function viewOf(record: SandboxRecord, lastActiveAt?: string): SandboxView {
  const { env, snapshotKey: _snapshotKey, owner: _owner, ...shown } = record;
  return {
    ...shown,
    labels: { ...record.labels },
    envKeys: Object.keys(env).sort(),
    lastActiveAt: lastActiveAt ?? record.lastActiveAt,
  };
}

/** One line of an exec's stream: a chunk of output (with its seq), or the end. */
export type ExecEvent =
  | { readonly seq: number; readonly stream: 'stdout' | 'stderr'; readonly data: Buffer }
  | { readonly exit: ExecExit | null; readonly status: 'finished' | 'lost' };
