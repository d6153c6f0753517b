/** Resource limits of one evaluation, all enforced by the runtime. */
export interface Limits {
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly maxProcesses: number;
  /** Bytes kept per stream; the rest is drained and dropped, and the result says it was truncated. */
  readonly maxOutputBytes: number;
  readonly tmpSizeMb: number;
  /** Cap of the stored bytes of `/artifacts` (absent: evaluations stored before artifacts existed). */
  readonly artifactsMb?: number;
  /**
   * Bytes kept per stream in all: past `maxOutputBytes` (stored inline) the rest goes to the object store
   * (docs/artifacts.md, "Long logs"). Absent, or not above `maxOutputBytes`: nothing past the prefix is kept.
   */
  readonly maxLogBytes?: number;
}

/** Configurable bounds a submission may ask for. */
export interface LimitBounds {
  readonly maxCodeBytes: number;
  readonly maxStdinBytes: number;
  readonly minTimeoutSeconds: number;
  readonly maxTimeoutSeconds: number;
  readonly minMemoryMb: number;
  readonly maxMemoryMb: number;
  /** The largest `artifactsMb` a submission may ask for (absent: 1024). */
  readonly maxArtifactsMb?: number;
  /** The largest `maxLogBytes` a submission may ask for, in MiB (absent: 256). */
  readonly maxLogMb?: number;
}

export const DEFAULT_LIMITS: Limits = {
  timeoutSeconds: 30,
  memoryMb: 256,
  maxProcesses: 64,
  maxOutputBytes: 1024 * 1024,
  tmpSizeMb: 64,
};

export const DEFAULT_BOUNDS: LimitBounds = {
  maxCodeBytes: 512 * 1024,
  maxStdinBytes: 1024 * 1024,
  minTimeoutSeconds: 1,
  maxTimeoutSeconds: 600,
  minMemoryMb: 16,
  maxMemoryMb: 4096,
};
