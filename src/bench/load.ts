import { summarize, type Summary } from './stats.js';

/** One measured window of a closed-loop load. */
export interface LoadWindow {
  readonly concurrency: number;
  /** Requests completed inside the window (a straggler counts by the part of it inside). */
  readonly completed: number;
  readonly windowMs: number;
  /** Latency of every request started inside the window, ms. */
  readonly latencies: readonly number[];
  /** CPU time the measured system used for those requests, ms (null when not measured). */
  readonly cpuMs: number | null;
}

export interface LoadResult {
  readonly concurrency: number;
  readonly completed: number;
  readonly windowMs: number;
  /** Completed requests per second of measured window. */
  readonly throughput: number;
  readonly latency: Summary;
  /** CPU time of the measured system per request, ms: what limits throughput once the cores are busy. */
  readonly cpuMsPerRequest: number | null;
}

/**
 * A closed-loop load: `concurrency` workers, each running `task` back to back for `windowMs`. Throughput
 * counts the requests completed inside the window, a request still running at its end by the part of it
 * that fell inside (so a system whose requests are long and finish together is not rounded down a whole
 * request per worker and window); latency covers every request started inside it (the stragglers are
 * awaited, so the next window starts on an idle machine).
 */
export async function closedLoop(
  concurrency: number,
  windowMs: number,
  task: () => Promise<void>,
  cpuMs?: () => number,
): Promise<LoadWindow> {
  const latencies: number[] = [];
  let completed = 0;
  const cpuBefore = cpuMs?.();
  const deadline = performance.now() + windowMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await task();
      const t1 = performance.now();
      latencies.push(t1 - t0);
      completed += t1 <= deadline ? 1 : (deadline - t0) / (t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = cpuMs && cpuBefore !== undefined ? cpuMs() - cpuBefore : null;
  return { concurrency, completed, windowMs, latencies, cpuMs: used };
}

/** Throughput and latency over windows of the same load (interleaved with another system's windows). */
export function summarizeLoad(windows: readonly LoadWindow[]): LoadResult {
  const completed = windows.reduce((sum, w) => sum + w.completed, 0);
  const windowMs = windows.reduce((sum, w) => sum + w.windowMs, 0);
  const measured = windows.every((w) => w.cpuMs !== null);
  const cpuMs = windows.reduce((sum, w) => sum + (w.cpuMs ?? 0), 0);
  const requests = windows.reduce((sum, w) => sum + w.latencies.length, 0);
  return {
    concurrency: windows[0]?.concurrency ?? 0,
    completed,
    windowMs,
    throughput: completed / (windowMs / 1000),
    latency: summarize(windows.flatMap((w) => w.latencies)),
    cpuMsPerRequest: measured && requests > 0 ? cpuMs / requests : null,
  };
}
