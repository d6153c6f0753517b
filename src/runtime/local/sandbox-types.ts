import type { ArtifactsMount } from './artifacts-mount.js';
import type { Limits, MemoryEnforcement, OutputStream } from '../../core/index.js';

/** How strongly a local run is isolated from the host. */
export type Isolation = 'bwrap' | 'gvisor' | 'none';

/** A read-only file placed in the sandbox; `path` is absolute inside the sandbox, e.g. `/code/main.py`. */
export interface SandboxFile {
  readonly path: string;
  readonly content: string | Buffer;
  /** Mode 0555 instead of 0444, for a program delivered with the run (still read-only). */
  readonly executable?: boolean;
}

/** A host directory shown inside the sandbox at `path` (a compile stage's `/build`, a toolchain's config). */
export interface SandboxBind {
  readonly hostPath: string;
  readonly path: string;
  readonly writable: boolean;
}

export interface SandboxSpec {
  /** argv[0] is a bare interpreter name (`python3`, `node`, `bash`) or an absolute path. */
  readonly argv: readonly string[];
  readonly files: readonly SandboxFile[];
  /** Per-run host directories to show (absent: none); a spec with binds never uses a pre-spawned sandbox. */
  readonly binds?: readonly SandboxBind[];
  /** Host directories every run of its language sees read-only at the same path (`/etc/alternatives`). */
  readonly hostDirs?: readonly string[];
  /** Environment on top of the sandbox's own PATH, HOME and LANG (a toolchain's cache paths). */
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin: string | Buffer;
  readonly limits: Limits;
  /** The caller collects `/artifacts` after the run (the local runtime); otherwise the run has none. */
  readonly collectArtifacts?: boolean;
}

export interface SandboxExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  /** `kill()` was called. */
  readonly killed: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly cpuTimeMs: number | null;
  readonly peakMemoryBytes: number | null;
  readonly memoryEnforcement: MemoryEnforcement;
}

export interface SandboxHandle {
  readonly startedAt: Date;
  /** Resolves once all output went through `onOutput` and every process of the run is dead. Never rejects. */
  readonly exited: Promise<SandboxExit>;
  kill(): Promise<void>;
  /** The run's `/artifacts`, to collect after `exited` and then release (absent: the run had none). */
  readonly artifacts?: ArtifactsMount;
}

/** A claimed pre-spawned compile/run pair (warm-stages.ts): the compile already started, the run waiting. */
export interface WarmStages {
  /** The pair's own build directory, now the evaluation's: bound at `/build` in both sandboxes. */
  readonly buildHostPath: string;
  removeBuild(): Promise<void>;
  readonly compile: SandboxHandle;
  /**
   * Starts the next run stage in a pre-spawned sandbox sharing the build: the pair's for the first, one built
   * during the previous run for the others (up to `runs`); null when there is none (start it cold).
   */
  run(
    spec: SandboxSpec,
    onOutput: (stream: OutputStream, data: Buffer) => void,
  ): Promise<SandboxHandle | null>;
  /** Throws the waiting run sandbox away if it was not used (a failed compile, a cancel). */
  release(): Promise<void>;
}

export interface Sandbox {
  readonly isolation: Isolation;
  launch(spec: SandboxSpec, onOutput: (stream: OutputStream, data: Buffer) => void): Promise<SandboxHandle>;
  /**
   * A compiled language's compile and first run in a pre-spawned pair, if one fits (bwrap with cgroups only);
   * null otherwise. The specs' `/build` binds are placeholders: the pair brings its own build directory.
   */
  launchStages?(
    compile: SandboxSpec,
    run: SandboxSpec,
    buildSizeMb: number,
    onOutput: (stream: OutputStream, data: Buffer) => void,
    /** How many run stages will follow (1, or the number of tests). */
    runs?: number,
  ): WarmStages | null;
  /** Kills everything still running. */
  close(): Promise<void>;
}

export interface SandboxOptions {
  readonly isolation: Isolation;
  /** A directory the server owns; runtime state (gVisor bundles, `none` run dirs) lives below it. */
  readonly stateDir: string;
  readonly warn?: (message: string) => void;
  /** Pre-spawned bwrap sandboxes kept ready per kind of run (default 2; 0 turns the warm pool off). */
  readonly warmPoolSize?: number;
  /**
   * How bwrap runs are launched: `spawner` (default: the python3 helper, so the server is not forked per run)
   * or `direct` (the server spawns them itself; for embedders that run many sandboxes in one process with
   * other servers, such as the fake kubelet).
   */
  readonly launcher?: 'spawner' | 'direct';
  /** Size of each run's `/artifacts` tmpfs (bwrap); absent or 0: runs have no `/artifacts`. */
  readonly artifactsMb?: number;
}
