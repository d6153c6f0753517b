import { printOneTask, StageRecorder, type StageSummaries } from './evaluation-task.js';
import { bareBwrapOnce, plainPythonOnce } from './floor.js';
import { startBenchServer } from './server-process.js';
import { summarize, type Summary } from './stats.js';

export interface LocalBenchOptions {
  readonly iterations: number;
  readonly sandbox: 'bwrap' | 'gvisor' | 'none';
  readonly log?: (line: string) => void;
  /** A running server to measure; by default one is started (and stopped) for the benchmark. */
  readonly baseUrl?: string;
}

export interface LocalBenchResult {
  readonly sandbox: string;
  /** Plain `python3 -c 'print(1)'`, spawned from this process, ms. */
  readonly plainPython: Summary;
  /** `bwrap <a run's isolation flags> python3 -c 'print(1)'`, spawned from this process, ms (bwrap only). */
  readonly bareBwrap: Summary | null;
  /** POST → terminal status seen by the client (GET ?wait), ms. */
  readonly submitToTerminal: Summary;
  /** Stage breakdown from the stored timestamps, ms. */
  readonly stages: StageSummaries;
  readonly ratioToPlainPython: number;
  readonly ratioToBareBwrap: number | null;
}

const WARM_UP = 5;

/**
 * Sequential submit→terminal latency of `print(1)` over HTTP against a real server process, next to plain
 * Python and bare bwrap start-up measured in the same run, interleaved so all three see the same load.
 */
export async function benchLocal(options: LocalBenchOptions): Promise<LocalBenchResult> {
  const log = options.log ?? (() => undefined);
  const server = options.baseUrl ? null : await startBenchServer({ sandbox: options.sandbox });
  const baseUrl = options.baseUrl ?? server?.url ?? '';
  try {
    const stages = new StageRecorder();
    const measured = printOneTask(baseUrl, stages);
    const warmUp = printOneTask(baseUrl);
    const samples = { plain: [] as number[], bare: [] as number[], http: [] as number[] };
    log(`sequential: ${options.iterations} measured runs at ${baseUrl} after ${WARM_UP} warm-up runs`);
    for (let i = 0; i < WARM_UP; i++) await warmUp();
    for (let i = 0; i < options.iterations; i++) {
      samples.plain.push(await plainPythonOnce());
      if (options.sandbox === 'bwrap') samples.bare.push(await bareBwrapOnce());
      const t0 = performance.now();
      await measured();
      samples.http.push(performance.now() - t0);
    }
    const submitToTerminal = summarize(samples.http);
    const plainPython = summarize(samples.plain);
    const bareBwrap = samples.bare.length > 0 ? summarize(samples.bare) : null;
    return {
      sandbox: options.sandbox,
      plainPython,
      bareBwrap,
      submitToTerminal,
      stages: stages.summaries(),
      ratioToPlainPython: submitToTerminal.median / plainPython.median,
      ratioToBareBwrap: bareBwrap ? submitToTerminal.median / bareBwrap.median : null,
    };
  } finally {
    await server?.stop();
  }
}
