import type { ProjectPlacement } from '../../core/index.js';
import type { AgentClient } from './agent-client.js';

/**
 * The narrow interface between the sandbox service and a backend that keeps interactive sandboxes (issue 11).
 *
 * A backend does only three things: it starts an isolated environment running the agent
 * (`crucible-runner agent`, runner/src/agent), it hands the service a duplex byte stream to that agent, and
 * it tears the environment down. Everything a user asks for — exec, files, PTY, workspace archive and restore
 * — is a request in the agent's framed protocol (docs/sandboxes.md, spoken by src/runtime/sandbox/agent-
 * client.ts), executed by the agent inside the sandbox as the sandbox user, so no host code ever opens a path
 * the sandbox controls. Hibernation is the service's work: it asks the agent for an archive of /workspace,
 * stores it, destroys the instance, and on the next call creates a fresh one and asks the agent to restore.
 * A backend that can keep processes too (gVisor's checkpoint) offers the optional hooks below.
 *
 * Backends: local bwrap / gVisor (src/runtime/local/sandboxes/) and Kubernetes (src/runtime/kubernetes/
 * sandboxes/, a Pod per sandbox reached over the pods/exec subresource).
 */
export interface SandboxRuntime {
  /** Recorded on each sandbox: `bwrap`, `gvisor`, `kubernetes`. */
  readonly name: string;
  /**
   * Starts a sandbox for `spec` and resolves once its agent is reachable (it answered `ready`) with the
   * spec's limits in force, env set and initial files in /workspace. Rejects with a message when the platform
   * cannot start one; nothing is left behind then.
   */
  create(spec: SandboxInstanceSpec): Promise<SandboxInstance>;
  /**
   * After a server restart: find the live instance of a sandbox this backend started earlier. Null when it is
   * gone (a local sandbox dies with the server; the service then resumes it from its last snapshot, if any).
   * Absent: never adoptable.
   */
  adopt?(sandboxId: string, spec: SandboxInstanceSpec): Promise<SandboxInstance | null>;
  /** Destroys every instance this runtime still holds (a restartable backend may leave them: see adopt). */
  close(): Promise<void>;
}

/** Limits of one sandbox as a whole; each exec has its own wall-time limit on top (the agent enforces it). */
export interface SandboxInstanceLimits {
  /** Memory of every process in the sandbox together, the agent's own few MiB and a tmpfs workspace included. */
  readonly memoryMb: number;
  /** Processes and threads in the sandbox at once. */
  readonly maxProcesses: number;
  /** Size cap of /workspace (writes past it fail with ENOSPC inside the sandbox). */
  readonly workspaceMb: number;
  /** Size cap of /tmp. */
  readonly tmpSizeMb: number;
  /** CPU cores (Kubernetes `limits.cpu`); null: no CPU cap beyond the host's fairness. */
  readonly cpus: number | null;
}

/** A file placed in /workspace before the sandbox is handed out; `path` is relative to /workspace. */
export interface InitialFile {
  readonly path: string;
  readonly content: Buffer;
  /** Permission bits, default 0o644. */
  readonly mode?: number;
}

export interface SandboxInstanceSpec {
  readonly sandboxId: string;
  /** A language id (src/core/languages.ts): which image/interpreters the sandbox has. */
  readonly language: string;
  readonly limits: SandboxInstanceLimits;
  /** Environment of every exec and PTY (an exec's own env is merged over it). */
  readonly env: Readonly<Record<string, string>>;
  /** Written by the agent as the sandbox user before `create` resolves. */
  readonly files: readonly InitialFile[];
  readonly labels: Readonly<Record<string, string>>;
  /** The sandbox's project: the Kubernetes backend places the pod in the project's namespace. */
  readonly project?: ProjectPlacement;
}

/** How a sandbox instance ended on its own (not through `destroy`). */
export interface InstanceExit {
  /** `crashed`: the agent died; `oom`: the sandbox's memory limit killed it; `lost`: the platform lost it. */
  readonly reason: 'crashed' | 'oom' | 'lost';
  readonly message: string;
}

/** One running sandbox. */
export interface SandboxInstance {
  readonly sandboxId: string;
  readonly startedAt: Date;
  /**
   * The connection to the agent: an AgentClient (agent-client.ts) over the backend's duplex byte stream
   * (`new AgentClient(duplex)`; docs/sandboxes.md "Frames"). The service keeps one connection per instance
   * and multiplexes every request over it. Local instances have exactly one (the agent's stdin and stdout,
   * the client `create` already used); a backend whose stream can drop (a Kubernetes exec WebSocket) may be
   * asked again after the previous client's `closed` resolved, and answers a fresh agent process that shares
   * the sandbox's /workspace (running execs and PTYs of the old connection die with their agent process).
   */
  connect(): Promise<AgentClient>;
  /** Resolves if the instance ends by itself; never resolves for one that is destroyed first. */
  readonly ended: Promise<InstanceExit>;
  /**
   * How many times the sandbox's memory limit killed a process so far (cgroup `oom_kill`), so an exec's
   * verdict can tell an OOM kill from any other SIGKILL; null or absent when the backend cannot tell (the
   * agent then reports what it sees itself).
   */
  oomKills?(): Promise<number | null>;
  /**
   * Optional hibernation that keeps processes: saves the whole sandbox (memory included) under `dir` and stops
   * it. Returns false when unsupported here, and the service falls back to a workspace archive.
   */
  checkpoint?(dir: string): Promise<boolean>;
  /** Stops every process of the sandbox and removes what the backend made for it. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * The restore side of `checkpoint`: a runtime that can checkpoint can also start an instance from a saved
 * image (its agent answers `ready` again on a new connection).
 */
export interface CheckpointingRuntime extends SandboxRuntime {
  restoreCheckpoint(spec: SandboxInstanceSpec, dir: string): Promise<SandboxInstance>;
}
