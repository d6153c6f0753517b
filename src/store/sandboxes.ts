/** Interactive sandboxes in the store (docs/sandboxes.md); both adapters pass test/sandboxes/store.test.ts. */

export const SANDBOX_STATUSES = ['starting', 'ready', 'hibernated', 'terminated', 'error'] as const;
export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

export interface SandboxRecord {
  readonly id: string;
  /** Who created it; null while authentication is off. Only they (and admins) see it. */
  readonly user: string | null;
  readonly project: string | null;
  readonly language: string;
  readonly status: SandboxStatus;
  readonly memoryMb: number;
  readonly workspaceMb: number;
  readonly idleTimeoutSeconds: number;
  readonly maxLifetimeSeconds: number | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  /** The backend that runs it (`bwrap`, `kubernetes`). */
  readonly runtime: string;
  /** Object-store key of the last workspace snapshot; null before the first hibernation. */
  readonly snapshotKey: string | null;
  readonly snapshotBytes: number | null;
  /** Why it is in `error`; null otherwise. */
  readonly error: string | null;
  readonly createdAt: string;
  /** Last exec, file or PTY call: idle hibernation counts from here. */
  readonly lastActiveAt: string;
  readonly hibernatedAt: string | null;
  readonly terminatedAt: string | null;
  /**
   * The replica whose process runs its live instance (`starting`/`ready`); null when none does (hibernated,
   * terminated) or when the server runs without replica ids. Other replicas forward calls to it.
   */
  readonly owner: string | null;
}

export type SandboxPatch = Partial<
  Pick<
    SandboxRecord,
    | 'status'
    | 'snapshotKey'
    | 'snapshotBytes'
    | 'error'
    | 'lastActiveAt'
    | 'hibernatedAt'
    | 'terminatedAt'
    | 'owner'
  >
>;

export interface ExecExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  /** Output past maxOutputBytes per stream was dropped. */
  readonly truncated: boolean;
  readonly durationMs: number;
  readonly cpuMs: number | null;
  readonly peakMemoryBytes: number | null;
}

export type ExecStatus = 'running' | 'finished' | 'lost';

export interface ExecRecord {
  readonly id: string;
  readonly sandboxId: string;
  readonly argv: readonly string[];
  readonly status: ExecStatus;
  readonly exit: ExecExit | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
}

export interface ExecLogChunk {
  readonly execId: string;
  /** 1, 2, … per exec, both streams together, in the order the output was read. */
  readonly seq: number;
  readonly stream: 'stdout' | 'stderr';
  readonly data: Buffer;
}

export interface SandboxListQuery {
  readonly user?: string;
  readonly status?: SandboxStatus;
  readonly limit: number;
}

/** An Idempotency-Key already recorded in its scope: what it was for and what it made. */
export interface RecordedKey {
  readonly fingerprint: string;
  readonly targetId: string;
}

export interface SandboxStore {
  insertSandbox(sandbox: SandboxRecord): Promise<void>;
  getSandbox(id: string): Promise<SandboxRecord | null>;
  /** Newest first. */
  listSandboxes(query: SandboxListQuery): Promise<SandboxRecord[]>;
  /**
   * Compare-and-set: applies `patch` only while the status is one of `from` (and, when `owner` is given, the
   * owner is exactly that, null included); returns the row after, or null.
   */
  updateSandbox(
    id: string,
    from: readonly SandboxStatus[],
    patch: SandboxPatch,
    owner?: string | null,
  ): Promise<SandboxRecord | null>;
  /** A user's sandboxes in these statuses (quotas). */
  countSandboxes(user: string, statuses: readonly SandboxStatus[]): Promise<number>;
  /**
   * Records `key` for `targetId` unless the scope already has it, atomically (two replicas racing: one wins).
   * Returns null when this call recorded it, else what was recorded first.
   */
  claimKey(scope: string, key: string, fingerprint: string, targetId: string): Promise<RecordedKey | null>;
  /** Forgets a key whose creation failed before anything was made, so a retry can run. */
  releaseKey(scope: string, key: string): Promise<void>;
  insertExec(exec: ExecRecord): Promise<void>;
  getExec(id: string): Promise<ExecRecord | null>;
  /** Newest first. */
  listExecs(sandboxId: string, limit: number): Promise<ExecRecord[]>;
  finishExec(
    id: string,
    status: Exclude<ExecStatus, 'running'>,
    exit: ExecExit | null,
    at: string,
  ): Promise<void>;
  /**
   * Ends every exec still `running` (a restart: their sandbox processes are gone), or only those of one
   * sandbox (another replica's instance is gone); returns how many.
   */
  loseRunningExecs(at: string, sandboxId?: string): Promise<number>;
  appendExecLogs(chunks: readonly ExecLogChunk[]): Promise<void>;
  /** Chunks with seq > afterSeq, oldest first. */
  readExecLogs(execId: string, afterSeq: number, limit: number): Promise<ExecLogChunk[]>;
}
