import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { timeProcess } from './processes.js';
import { CRUCIBLE_BIN } from './server-process.js';
import { summarize, type Summary } from './stats.js';

export interface CliBenchOptions {
  readonly baseUrl: string;
  readonly iterations?: number;
  readonly log?: (line: string) => void;
}

export interface CliBenchResult {
  /** `node -e 0` with the same Node binary, ms. */
  readonly nodeStart: Summary;
  /** Wall time of `crucible run hello.py --json` minus the evaluation's own submitted→stored time, ms. */
  readonly cliOverhead: Summary;
  /** The wall time itself, ms. */
  readonly cliWall: Summary;
  /** Median CLI overhead / median `node -e 0`. */
  readonly ratio: number;
}

/** The goal for the CLI's own cost: at most 1.5× `node -e 0`. */
export const CLI_GOAL_RATIO = 1.5;

const WARM_UP = 2;

/**
 * What the CLI itself costs a user: `node bin/crucible.js run hello.py --json` against a running server, its
 * wall time minus the evaluation's submit→stored time from the evaluation's own timings, next to `node -e 0`
 * measured interleaved in the same run.
 */
export async function benchCli(options: CliBenchOptions): Promise<CliBenchResult> {
  // 30, not 10: `node -e 0` itself varies ±15 % between runs here, and the ratio is of two medians.
  const iterations = options.iterations ?? 30;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-cli-bench-'));
  try {
    const file = path.join(dir, 'hello.py');
    await writeFile(file, 'print("hello")\n');
    const env = { ...process.env, CRUCIBLE_URL: options.baseUrl };
    const samples = { node: [] as number[], overhead: [] as number[], wall: [] as number[] };
    options.log?.(`cli: ${iterations} runs of crucible run hello.py --json after ${WARM_UP} warm-up runs`);
    for (let i = 0; i < WARM_UP + iterations; i++) {
      const node = await timeProcess({ command: process.execPath, args: ['-e', '0'] });
      const cli = await timeProcess({
        command: process.execPath,
        args: [CRUCIBLE_BIN, 'run', file, '--json'],
        env,
        cwd: dir,
      });
      const evaluation = JSON.parse(cli.stdout) as {
        status: string;
        timings: { submittedAt: string; storedAt: string | null };
      };
      if (evaluation.status !== 'succeeded' || evaluation.timings.storedAt === null) {
        throw new Error(`crucible run hello.py ended ${evaluation.status}`);
      }
      if (i < WARM_UP) continue;
      const own = Date.parse(evaluation.timings.storedAt) - Date.parse(evaluation.timings.submittedAt);
      samples.node.push(node.wallMs);
      samples.wall.push(cli.wallMs);
      samples.overhead.push(cli.wallMs - own);
    }
    const nodeStart = summarize(samples.node);
    const cliOverhead = summarize(samples.overhead);
    return {
      nodeStart,
      cliOverhead,
      cliWall: summarize(samples.wall),
      ratio: cliOverhead.median / nodeStart.median,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
