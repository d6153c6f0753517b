import {
  GRADING_BOUNDS,
  type CompileFacts,
  type OutputStream,
  type RunOutcome,
  type TestRun,
} from '../../core/index.js';
import { CappedText } from '../capped-text.js';
import type { StageFrame } from './frames.js';

/** The end of a compile or a test as the runner frames it: `<exit|-> <signal|-> <timedOut> <oom> <ms>`. */
interface StageEnd {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly durationMs: number;
}

function parseEnd(body: string): StageEnd {
  const [code = '-', signal = '-', timedOut = '0', oom = '0', ms = '0'] = body.split(' ');
  const duration = Number(ms);
  return {
    exitCode: code === '-' || !Number.isFinite(Number(code)) ? null : Number(code),
    signal: signal === '-' ? null : signal,
    timedOut: timedOut === '1',
    oomKilled: oom === '1',
    durationMs: Number.isFinite(duration) ? duration : 0,
  };
}

/**
 * Turns the staged frames of one pod log (runner/src/compile.rs) into the facts the core judges — the
 * compile stage's `CompileFacts` and one `TestRun` per test — as the local backend's staged run reports
 * them. Test output is kept here for its verdict, not streamed; compile output never mixes with the
 * program's. Feed it every stage frame and every output chunk, in log order.
 */
export class StageCollector {
  private readonly compileOutput = new CappedText(GRADING_BOUNDS.maxCompileOutputBytes);
  private compile: CompileFacts | null = null;
  private readonly runs: TestRun[] = [];
  private test: { stdout: CappedText; stderr: CappedText } | null = null;

  /** `compiles`: the language has a compile stage; `tests`: the submission has test cases. */
  constructor(
    private readonly compiles: boolean,
    private readonly tests: boolean,
  ) {}

  frame(frame: StageFrame): void {
    switch (frame.tag) {
      case 'c':
        this.compileOutput.add(Buffer.from(frame.body, 'base64'));
        return;
      case 'k':
        this.compile = this.compileFacts(parseEnd(frame.body));
        return;
      case 't':
        this.test = {
          stdout: new CappedText(GRADING_BOUNDS.maxTestOutputBytes),
          stderr: new CappedText(GRADING_BOUNDS.maxTestOutputBytes),
        };
        return;
      case 'r':
        this.endTest(parseEnd(frame.body));
        return;
    }
  }

  /** True when `data` belongs to the test in progress (kept for its verdict); false: the program's output. */
  output(stream: OutputStream, data: Buffer): boolean {
    if (!this.test) return false;
    (stream === 'stdout' ? this.test.stdout : this.test.stderr).add(data);
    return true;
  }

  /** The outcome with the compile facts and test runs added (an error outcome is left as it is). */
  apply(outcome: RunOutcome): RunOutcome {
    if (outcome.kind !== 'exited') return outcome;
    const durationMs = outcome.finishedAt.getTime() - outcome.startedAt.getTime();
    // No `k` frame and the container was killed: it died while compiling. On cgroup v2 nodes (Kubernetes
    // ≥ 1.28) an OOM kills the whole container, runner included, so this is how a compiler over its memory
    // limit shows. Without a kill the frame was only lost (an incomplete log): the exit decides alone.
    const killed =
      outcome.oomKilled || outcome.timedOut || outcome.signal !== null || outcome.exitCode === 137;
    const compile =
      this.compile ?? (this.compiles && killed ? this.compileFacts({ ...outcome, durationMs }, false) : null);
    const withCompile = compile ? { ...outcome, compile } : outcome;
    if (!this.tests || (compile && !compile.succeeded)) return withCompile;
    // A test cut short by the container's end (deadline, OOM of the whole container) is that test's verdict.
    if (this.test) this.endTest({ ...outcome, durationMs: 0 });
    return { ...withCompile, timedOut: false, oomKilled: false, testRuns: [...this.runs] };
  }

  private compileFacts(end: StageEnd, ended = true): CompileFacts {
    const output = this.compileOutput;
    const note = output.truncated ? `\n[compiler output truncated at ${output.max} bytes]\n` : '';
    return {
      succeeded: ended && end.exitCode === 0 && end.signal === null && !end.timedOut && !end.oomKilled,
      output: output.text() + note,
      timedOut: end.timedOut,
      oomKilled: end.oomKilled,
      durationMs: end.durationMs,
    };
  }

  private endTest(end: StageEnd): void {
    if (!this.test) return;
    this.runs.push({
      stdout: this.test.stdout.text(),
      stderr: this.test.stderr.text(),
      stdoutTruncated: this.test.stdout.truncated,
      exitCode: end.exitCode,
      signal: end.signal,
      timedOut: end.timedOut,
      oomKilled: end.oomKilled,
      durationMs: end.durationMs,
    });
    this.test = null;
  }
}
