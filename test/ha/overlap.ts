export interface Interval {
  readonly start: number;
  readonly end: number;
}

/** The most intervals open at one instant; an interval ending at the instant another starts does not count. */
export function maxOverlap(intervals: readonly Interval[]): number {
  const edges = intervals.flatMap(({ start, end }) => [
    { at: start, delta: 1 },
    { at: end, delta: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let most = 0;
  for (const { delta } of edges) {
    open += delta;
    most = Math.max(most, open);
  }
  return most;
}
