import type { OutputStream } from '../../core/index.js';
import { pause } from './backoff.js';
import type { CollectedFile } from '../artifacts.js';
import { ArtifactFrames } from './artifact-frames.js';
import { FrameDecoder, type RunnerExit, type StageFrame } from './frames.js';
import { toKubeError, type KubeApi } from './kube-client.js';
import { MAIN_CONTAINER } from './names.js';

export interface LogResult {
  /** True when the runner's exit frame was read with no frame missing: the output is provably complete. */
  readonly complete: boolean;
  readonly exit: RunnerExit | null;
}

export interface LogCollectorOptions {
  readonly retryMs: number;
  readonly graceMs: number;
  readonly warn: (message: string) => void;
  /** Frames of a staged run (compile output, tests), in order with the output (see stage-frames.ts). */
  readonly stage?: (frame: StageFrame) => void;
  /** Files the runner streamed from `/artifacts` (runner/src/artifacts.rs): before its exit frame, or each test's after it. */
  readonly artifact?: (file: CollectedFile) => void;
}

/**
 * Follows one pod's log into the observer from the moment the container can be read, and survives
 * reconnects: each new read resumes at the last timestamp and the decoder drops frames it already delivered.
 * The runner's exit frame is the last one it writes, so once it is read the output is complete; otherwise,
 * after the container terminated, one more read without `follow` picks up whatever the follow missed.
 */
export class LogCollector {
  private readonly decoder: FrameDecoder;
  private readonly artifacts: ArtifactFrames;
  /** When the last log chunk arrived (the grace of `finish` counts from it). */
  private progressAt = 0;
  private readonly controller = new AbortController();
  private running: Promise<void> | null = null;
  private terminated = false;
  private podGone = false;
  private finalReadDone = false;
  private nap: AbortController | null = null;
  /** Set by `finish` while no wait runs: the next wait is skipped once. */
  private wake = false;

  constructor(
    private readonly api: KubeApi,
    private readonly pod: string,
    deliver: (stream: OutputStream, data: Buffer) => void,
    private readonly options: LogCollectorOptions,
  ) {
    this.artifacts = new ArtifactFrames((file) => {
      if (options.artifact) options.artifact(file);
      else file.body?.resume();
    });
    this.decoder = new FrameDecoder((o) => deliver(o.stream, o.data), options.stage, this.artifacts);
  }

  get exit(): RunnerExit | null {
    return this.decoder.exit;
  }

  /** Starts following (once). */
  start(): void {
    this.running ??= this.run();
  }

  /**
   * The container terminated: resolves when the output is complete, the pod is gone, or the grace period
   * ran out (a half-open log stream must not hold the result back forever). The grace counts from the last
   * progress — a chunk read or artifact bytes taken by the store — so a long backlog of artifacts streamed
   * after the program ended is read to its end, while a log that stops moving is still given up on.
   */
  async finish(): Promise<LogResult> {
    this.terminated = true;
    // A read backing off (e.g. after an API outage) starts its final read now, not after its wait.
    if (this.nap) this.nap.abort();
    else this.wake = true;
    this.start();
    let timer: NodeJS.Timeout | undefined;
    this.progressAt = Date.now();
    const grace = new Promise<void>((resolve) => {
      const check = () => {
        const idle = Date.now() - Math.max(this.progressAt, this.artifacts.readAt);
        if (idle >= this.options.graceMs) resolve();
        else timer = setTimeout(check, this.options.graceMs - idle);
      };
      timer = setTimeout(check, this.options.graceMs);
    });
    await Promise.race([this.running, grace]);
    clearTimeout(timer);
    this.controller.abort();
    // A log cut off inside an artifact: that file fails instead of waiting for bytes that will not come.
    this.artifacts.abandon();
    const complete = this.decoder.exit !== null && !this.decoder.incomplete;
    if (!complete) {
      this.options.warn(
        `logs of pod ${this.pod} may be incomplete (${this.podGone ? 'pod deleted' : 'no exit frame'})`,
      );
    }
    return { complete, exit: this.decoder.exit };
  }

  stop(): void {
    this.controller.abort();
    this.artifacts.abandon();
    this.nap?.abort();
  }

  /** Waits between reads; `finish` and `stop` cut the wait short. */
  private async rest(ms: number): Promise<void> {
    if (this.wake || this.controller.signal.aborted) {
      this.wake = false;
      return;
    }
    const nap = new AbortController();
    this.nap = nap;
    try {
      await pause(ms, nap.signal);
    } finally {
      this.nap = null;
    }
  }

  private done(): boolean {
    return this.controller.signal.aborted || this.podGone || this.decoder.exit !== null || this.finalReadDone;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.done()) {
      const follow = !this.terminated;
      try {
        const body = await this.api.log(
          {
            pod: this.pod,
            container: MAIN_CONTAINER,
            follow,
            ...(this.decoder.lastTimestamp ? { sinceTime: this.decoder.lastTimestamp } : {}),
          },
          this.controller.signal,
        );
        this.decoder.resetConnection();
        for await (const chunk of body as AsyncIterable<Buffer>) {
          this.progressAt = Date.now();
          this.decoder.push(chunk);
          // Artifacts' bytes wait here while the store is slower than the log (artifact-frames.ts).
          await this.artifacts.settled();
        }
        failures = 0;
        if (!follow) this.finalReadDone = true;
        // A follow that ends means the container ended (or the connection dropped): the next round reads
        // without follow once the monitor has said so, and follows again otherwise.
        if (follow && !this.done()) await this.rest(this.options.retryMs);
      } catch (caught) {
        if (this.controller.signal.aborted) return;
        const error = toKubeError(caught);
        if (error.code === 404) {
          this.podGone = true;
          return;
        }
        // 400 "waiting to start" and 204 (not scheduled) are expected before the container runs.
        if (error.code !== 400 && error.code !== 204) {
          failures += 1;
          this.options.warn(`log of pod ${this.pod}: ${error.message}`);
        }
        await this.rest(Math.min(5000, this.options.retryMs * 2 ** Math.min(failures, 6)));
      }
    }
  }
}
