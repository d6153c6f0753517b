/**
 * Where a new evaluation runs, decided from a snapshot of every cluster. Pure: no clock, no I/O, so the
 * policy is tested on its own and documented in one place (docs/kubernetes.md, "More than one cluster").
 */

/** The submission label that pins an evaluation to one cluster (`labels: { cluster: "eu-1" }`). */
export const CLUSTER_LABEL = 'cluster';

export interface ClusterView {
  readonly name: string;
  readonly healthy: boolean;
  /** How many evaluations of this size its ResourceQuota admits at once; null when no quota bounds it. */
  readonly capacity: number | null;
  /** Evaluations Crucible runs there now (placed, not yet finished). */
  readonly running: number;
}

export type Placement =
  | { readonly kind: 'cluster'; readonly name: string }
  | { readonly kind: 'none'; readonly reason: 'unknown_cluster' | 'no_healthy_cluster' };

/** Free room on a cluster: quota minus what runs there; a cluster without quota has unbounded room. */
export function freeRoom(cluster: ClusterView): number {
  return cluster.capacity === null ? Number.POSITIVE_INFINITY : cluster.capacity - cluster.running;
}

/**
 * 1. A `cluster` label pins the evaluation to that cluster, healthy or not (its runtime retries there; the
 *    cluster-lost bound still applies). An unknown name places nowhere.
 * 2. Otherwise, among healthy clusters not in `excluded`: the one with the most free room (quota minus
 *    running); a cluster over its quota is still chosen when it is the best there is (its pods wait for
 *    quota, as on one cluster).
 * 3. Ties are spread round-robin by `turn` (a counter the caller advances per placement).
 *
 * @example
 * place([{ name: 'a', healthy: true, capacity: 10, running: 9 }, { name: 'b', healthy: true, capacity: 4, running: 0 }], {}, 0)
 * // → { kind: 'cluster', name: 'b' }
 */
export function place(
  clusters: readonly ClusterView[],
  labels: Readonly<Record<string, string>>,
  turn: number,
  excluded: ReadonlySet<string> = new Set(),
): Placement {
  const pinned = labels[CLUSTER_LABEL];
  if (pinned !== undefined) {
    const found = clusters.find((c) => c.name === pinned && !excluded.has(c.name));
    return found ? { kind: 'cluster', name: found.name } : { kind: 'none', reason: 'unknown_cluster' };
  }
  const candidates = clusters.filter((c) => c.healthy && !excluded.has(c.name));
  if (candidates.length === 0) return { kind: 'none', reason: 'no_healthy_cluster' };
  const best = Math.max(...candidates.map(freeRoom));
  const ties = candidates.filter((c) => freeRoom(c) === best);
  const chosen = ties[((turn % ties.length) + ties.length) % ties.length]!;
  return { kind: 'cluster', name: chosen.name };
}
