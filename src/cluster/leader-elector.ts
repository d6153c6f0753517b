/**
 * What the service depends on to run its single-writer loops (the Kubernetes monitor, transition
 * writers…): one replica leads at a time. `createLeaderElection` elects over a Kubernetes Lease;
 * `alwaysLeader` is the single-process deployment (SQLite, local runtime), where the one process leads.
 */

export interface LeadershipCallbacks {
  /** This process became the leader: start the guarded work. */
  onStartedLeading(): void | Promise<void>;
  /**
   * This process is no longer the leader (stepped down, lost the lease, or stopped): stop the guarded work
   * at once. Called only after `onStartedLeading`, and never twice for one term.
   */
  onStoppedLeading(): void | Promise<void>;
  /** Another (or this) identity was seen holding the lease; never called with ''. */
  onNewLeader?(identity: string): void;
}

export interface LeaderElector {
  /** This candidate's identity (unique per process: a replica restarted is a new candidate). */
  readonly identity: string;
  /** True from the moment leadership was won until the moment it was given up or lost. */
  readonly isLeader: boolean;
  /** Starts campaigning; resolves after the first attempt, so a lone candidate already leads. */
  start(): Promise<void>;
  /**
   * Stops campaigning and renewing, calls `onStoppedLeading` (awaited) if leading, then releases the lease
   * so another candidate takes over at once. `release: false` leaves the lease to expire (a crash, as seen
   * by the others). No timer or connection is left open.
   */
  stop(options?: { release?: boolean }): Promise<void>;
}

/** The single-process deployment: leads from `start` to `stop`. */
export function alwaysLeader(callbacks: LeadershipCallbacks, identity = 'local'): LeaderElector {
  let leading = false;
  return {
    identity,
    get isLeader() {
      return leading;
    },
    async start() {
      if (leading) return;
      leading = true;
      callbacks.onNewLeader?.(identity);
      await callbacks.onStartedLeading();
    },
    async stop() {
      if (!leading) return;
      leading = false;
      await callbacks.onStoppedLeading();
    },
  };
}
