import type { SandboxRecord, SandboxStore } from '../store/store.js';
import { SandboxError } from './sandboxes-types.js';

/**
 * This server as one of several replicas on a shared store (docs/sandboxes.md "Several replicas"). A live
 * sandbox runs in exactly one replica's process — its `owner` — and calls reaching another replica are
 * forwarded to the owner's advertised URL while the owner's lease lives. Once the lease ran out, the first
 * replica that needs the sandbox takes it over: back to `hibernated` when it has a snapshot (the next call
 * resumes it there), else `error`.
 */
export interface SandboxReplica {
  /** This replica's id (its lease row). */
  readonly id: string;
  readonly directory: {
    liveReplica(replica: string): Promise<{ readonly url: string | null } | null>;
    advertiseReplica(replica: string, url: string): Promise<void>;
  };
}

/** Sandboxes whose live instance belongs to some replica's process. */
export const LIVE_STATUSES = ['starting', 'ready'] as const;

export function isLiveStatus(record: SandboxRecord): boolean {
  return (LIVE_STATUSES as readonly string[]).includes(record.status);
}

/**
 * The owner's URL when a call on `record` must be served by another, live replica; null when it is served
 * here (no owner, this replica, not live, or the owner's lease ran out — the caller then takes it over).
 * @throws SandboxError sandbox_unavailable when the owner lives but cannot be reached from here
 */
export async function ownerUrl(
  record: SandboxRecord,
  replica: SandboxReplica,
  forwarded: boolean,
): Promise<string | null> {
  if (!isLiveStatus(record) || record.owner === null || record.owner === replica.id) return null;
  const peer = await replica.directory.liveReplica(record.owner);
  if (!peer) return null;
  if (peer.url && !forwarded) return peer.url;
  throw new SandboxError(
    'sandbox_unavailable',
    peer.url
      ? `sandbox ${record.id} is live on replica ${record.owner}, which does not hold it (a forwarded call is not forwarded again); retry`
      : `sandbox ${record.id} is live on replica ${record.owner}, which advertises no URL (--advertise-url)`,
  );
}

/**
 * Takes over a sandbox whose owner is gone (compare-and-set on its status and owner, so two replicas doing
 * it at once change it once): `hibernated` with its last snapshot (what changed after that snapshot was
 * lost with the owner, and the record's `error` says so), or `error` without one. Its running execs are
 * lost. Returns the record after (re-read when another replica changed it first).
 */
export async function takeOver(
  store: SandboxStore,
  record: SandboxRecord,
  why: string,
  at: string,
): Promise<SandboxRecord | null> {
  const patch = record.snapshotKey
    ? {
        status: 'hibernated' as const,
        owner: null,
        error: `${why}: resumed from its snapshot of ${record.hibernatedAt ?? 'its last hibernation'}; changes made after it were lost`,
      }
    : {
        status: 'error' as const,
        owner: null,
        error: `lost: ${why} before the sandbox was ever hibernated (no snapshot to resume from)`,
      };
  const after = await store.updateSandbox(record.id, LIVE_STATUSES, patch, record.owner);
  if (after) await store.loseRunningExecs(at, record.id);
  return after ?? store.getSandbox(record.id);
}
