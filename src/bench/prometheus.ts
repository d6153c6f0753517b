/** A histogram's cumulative buckets as Prometheus exposes them: `count` observations were ≤ `le` seconds. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/** The unlabelled histogram `name`'s buckets from a /metrics text, in `le` order; empty when absent. */
export function histogramOf(text: string, name: string): Bucket[] {
  const buckets: Bucket[] = [];
  const line = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`);
  for (const row of text.split('\n')) {
    const match = line.exec(row);
    if (!match) continue;
    buckets.push({ le: match[1] === '+Inf' ? Infinity : Number(match[1]), count: Number(match[2]) });
  }
  return buckets.sort((a, b) => a.le - b.le);
}

/** What was observed between two scrapes of the same histogram. */
export function histogramDelta(after: readonly Bucket[], before: readonly Bucket[]): Bucket[] {
  return after.map((bucket) => ({
    le: bucket.le,
    count: bucket.count - (before.find((b) => b.le === bucket.le)?.count ?? 0),
  }));
}

/**
 * The smallest bucket bound that at least a `q` share of the observations are under (seconds): the
 * quantile, bounded from above by the bucket it falls in. Null without observations.
 */
export function quantileBound(buckets: readonly Bucket[], q: number): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  return buckets.find((bucket) => bucket.count >= q * total)?.le ?? Infinity;
}
