import { printOneTask, StageRecorder, type StageSummaries } from './evaluation-task.js';
import { bareBwrapOnce } from './floor.js';
import { treeCpuMs } from './cpu.js';
import { closedLoop, summarizeLoad, type LoadResult, type LoadWindow } from './load.js';

export interface ThroughputBenchOptions {
  readonly baseUrl: string;
  /** The server's pid, to measure its CPU (and its sandboxes') per request; omitted, CPU is not reported. */
  readonly serverPid?: number;
  /** Concurrent clients per level (default 8 and 32). */
  readonly levels?: readonly number[];
  /** Measured time per system and level, split into `rounds` interleaved windows (default 8 s). */
  readonly measureMs?: number;
  readonly rounds?: number;
  readonly log?: (line: string) => void;
}

export interface ThroughputLevel {
  readonly concurrency: number;
  readonly crucible: LoadResult;
  /** The bare bwrap floor under the same client harness. */
  readonly floor: LoadResult;
  /** crucible.throughput / floor.throughput. */
  readonly ratio: number;
  /** Stage breakdown of the evaluations measured under this load. */
  readonly stages: StageSummaries;
}

/** The goal: ≥ 0.9× the floor's throughput at 8 clients, p95 no worse than the floor's. */
export const THROUGHPUT_GOAL = { concurrency: 8, minRatio: 0.9 } as const;

/**
 * Throughput and p95 of `print(1)` over HTTP at each concurrency, next to the bare-bwrap floor driven by the
 * same closed-loop harness. The two alternate in windows (A B B A …), so both see the same machine load.
 */
export async function benchThroughput(options: ThroughputBenchOptions): Promise<ThroughputLevel[]> {
  const log = options.log ?? (() => undefined);
  const rounds = options.rounds ?? 2;
  const windowMs = (options.measureMs ?? 8000) / rounds;
  const levels: ThroughputLevel[] = [];
  for (const concurrency of options.levels ?? [8, 32]) {
    log(`throughput: ${concurrency} concurrent clients, ${rounds} windows of ${windowMs} ms per system`);
    const stages = new StageRecorder();
    const crucibleTask = printOneTask(options.baseUrl, stages);
    const floorTask = async () => void (await bareBwrapOnce());
    // Warm-up: the server learns the kind of run and fills its warm pool; discarded.
    await closedLoop(concurrency, 1000, printOneTask(options.baseUrl));
    await closedLoop(concurrency, 500, floorTask);
    const serverCpu = options.serverPid ? () => treeCpuMs(options.serverPid ?? 0) : undefined;
    // This process spawns the floor's sandboxes and reaps them: its own CPU and theirs is the floor's (less
    // the server's, when the server is a child of this process).
    const floorCpu = () => treeCpuMs('self') - (options.serverPid ? treeCpuMs(options.serverPid) : 0);
    const crucible: LoadWindow[] = [];
    const floor: LoadWindow[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ['floor', 'crucible'] : ['crucible', 'floor'];
      for (const system of order) {
        if (system === 'floor') floor.push(await closedLoop(concurrency, windowMs, floorTask, floorCpu));
        else crucible.push(await closedLoop(concurrency, windowMs, crucibleTask, serverCpu));
      }
    }
    const c = summarizeLoad(crucible);
    const f = summarizeLoad(floor);
    levels.push({
      concurrency,
      crucible: c,
      floor: f,
      ratio: c.throughput / f.throughput,
      stages: stages.summaries(),
    });
  }
  return levels;
}
