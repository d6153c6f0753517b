import type { OutputStream } from '../../core/index.js';
import type { ArtifactsMounts } from './artifacts-mount.js';
import { bwrapWarmPlan, warmTemplateOf, type WarmTemplate } from './bwrap.js';
import { createBuildDir, type BuildDir } from './build-dir.js';
import { RunCgroups, cgroupLimitsFor, type CgroupLimits } from './cgroups.js';
import { prepareRun, type PreparedRun } from './process-run.js';
import type { SandboxHandle, SandboxSpec, WarmStages } from './sandbox-types.js';
import type { Launcher } from './spawned.js';

interface Prepared {
  readonly prepared: PreparedRun;
  readonly cgroups: RunCgroups;
}

/** A compile sandbox and a run sandbox, pre-spawned together around one build directory of their own. */
interface Pair {
  readonly build: BuildDir;
  readonly compile: Prepared;
  readonly run: Prepared;
}

interface StagesTemplate {
  readonly compile: WarmTemplate;
  readonly run: WarmTemplate;
  readonly buildSizeMb: number;
}

export interface WarmStagesOptions {
  /** Pairs kept ready per kind of staged run (language, /tmp sizes). */
  readonly perTemplate: number;
  readonly extraTasks: number;
  readonly warn: (message: string) => void;
  readonly launch: Launcher;
  /** The run sandbox of each pair gets its own `/artifacts` from here (absent: none), as a cold run does. */
  readonly artifacts?: ArtifactsMounts | null;
}

/** Spawned with generous limits; the claiming stage's own limits are set before its code runs. */
const SPAWN_LIMITS = (extraTasks: number): CgroupLimits => ({
  memoryBytes: 1024 * 1024 * 1024,
  maxTasks: 64 + extraTasks,
});

/**
 * Pre-spawned compile stages (docs/languages.md, "Speed"). A compile stage binds a per-evaluation `/build`,
 * so the plain warm pool cannot hold it; here each pre-spawned pair brings its own build directory: the
 * compile sandbox with it writable at `/build`, and the run sandbox with the same directory read-only (a
 * bind of the same tmpfs, so it sees what the compiler writes later). Both wait at the gate, fully set up,
 * so neither sandbox start is on the evaluation's critical path. Each pair serves one evaluation; its build
 * directory then belongs to that evaluation, which removes it.
 */
export class WarmStagesPool {
  readonly #options: WarmStagesOptions;
  readonly #idle = new Map<string, Pair[]>();
  /** The refill in progress per kind, so `settled` can wait for it. */
  readonly #filling = new Map<string, Promise<void>>();
  #closed = false;

  constructor(options: WarmStagesOptions) {
    this.#options = options;
  }

  /**
   * Claims a pair for these stages (their `/build` binds are placeholders: the pair's build is used) and
   * starts the compile; null when none fits (the kind is learned, so the next one is warm).
   */
  launch(
    compile: SandboxSpec,
    run: SandboxSpec,
    buildSizeMb: number,
    onOutput: (stream: OutputStream, data: Buffer) => void,
  ): WarmStages | null {
    const compileTemplate = warmTemplateOf(compile, true);
    const runTemplate = warmTemplateOf(run, true);
    if (!compileTemplate || !runTemplate || this.#closed) return null;
    const template: StagesTemplate = { compile: compileTemplate, run: runTemplate, buildSizeMb };
    const key = JSON.stringify(template);
    const idle = this.#idle.get(key) ?? [];
    this.#idle.set(key, idle);
    let pair = idle.shift();
    while (pair && !(pair.compile.prepared.alive && pair.run.prepared.alive)) {
      void discardPair(pair);
      pair = idle.shift();
    }
    if (!pair) {
      this.#refill(key, template);
      return null;
    }
    // As the plain pool: refill once this evaluation's stages are over (building a pair costs two sandbox
    // starts, CPU its compiler may need), at once only when it took the last pair.
    if (idle.length === 0) this.#refill(key, template);
    const claimed = pair;
    const done = () => this.#refill(key, template);
    const handle = this.#start(claimed.compile, compile, onOutput);
    let runClaimed = false;
    return {
      buildHostPath: claimed.build.hostPath,
      removeBuild: () => claimed.build.remove(),
      compile: handle,
      run: (spec, output) => {
        if (runClaimed || !claimed.run.prepared.alive) return null;
        runClaimed = true;
        const run = this.#start(claimed.run, spec, output);
        void run.exited.then(done);
        return run;
      },
      release: async () => {
        if (runClaimed) return;
        runClaimed = true;
        await claimed.run.prepared.discard();
        done();
      },
    };
  }

  /** Resolves when every refill in progress has finished (for tests and benchmarks that need a warm pair). */
  async settled(): Promise<void> {
    await Promise.all([...this.#filling.values()]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.all(all.map(discardPair));
  }

  #start(
    sandbox: Prepared,
    spec: SandboxSpec,
    onOutput: (stream: OutputStream, data: Buffer) => void,
  ): SandboxHandle {
    const { extraTasks } = this.#options;
    sandbox.cgroups.setLimits(SPAWN_LIMITS(extraTasks), cgroupLimitsFor(spec.limits, extraTasks));
    return sandbox.prepared.start({
      stdin: spec.stdin,
      lateInputs: spec.files.map((f) => f.content),
      onOutput,
      timeoutMs: spec.limits.timeoutSeconds * 1000,
    });
  }

  #refill(key: string, template: StagesTemplate): void {
    if (this.#filling.has(key)) return;
    // Started after the map holds it: a loop with nothing to do must not leave a finished entry behind.
    const filling = Promise.resolve().then(async () => {
      try {
        while (!this.#closed && (this.#idle.get(key)?.length ?? 0) < this.#options.perTemplate) {
          const pair = await this.#spawnPair(template);
          if (this.#closed) await discardPair(pair);
          else this.#idle.get(key)?.push(pair);
        }
      } catch (error) {
        this.#options.warn(`cannot pre-spawn a compile stage: ${String(error)}`);
      } finally {
        this.#filling.delete(key);
      }
    });
    this.#filling.set(key, filling);
  }

  async #spawnPair(template: StagesTemplate): Promise<Pair> {
    const build = await createBuildDir(template.buildSizeMb, this.#options.warn);
    const spawned: Prepared[] = [];
    try {
      for (const stage of [template.compile, template.run]) {
        const cgroups = await RunCgroups.create(SPAWN_LIMITS(this.#options.extraTasks));
        // The program's stage keeps its /artifacts, the compiler's gets none (as on the cold path).
        const artifacts = stage === template.run ? await this.#options.artifacts?.create() : null;
        const plan = bwrapWarmPlan(stage, cgroups, artifacts, build.hostPath);
        spawned.push({ prepared: await prepareRun(plan, this.#options.warn, this.#options.launch), cgroups });
      }
      const [compile, run] = spawned as [Prepared, Prepared];
      return { build, compile, run };
    } catch (error) {
      await Promise.all(spawned.map((s) => s.prepared.discard()));
      await build.remove();
      throw error;
    }
  }
}

async function discardPair(pair: Pair): Promise<void> {
  await Promise.all([pair.compile.prepared.discard(), pair.run.prepared.discard()]);
  await pair.build.remove();
}
