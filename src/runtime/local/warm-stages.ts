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
    runs = 1,
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
    const compileHandle = this.#start(claimed.compile, compile, onOutput);
    return this.#claimedStages(claimed, template, compileHandle, runs, () => this.#refill(key, template));
  }

  /**
   * The claimed pair's stages. Run 1 takes the pair's run sandbox; with tests, each run starts the sandbox of
   * the next one (the same build, read-only) while it runs, so no test after the first waits for a sandbox
   * start either. `done` refills the pool once the first run is over (or the pair is given back unused).
   */
  #claimedStages(
    claimed: Pair,
    template: StagesTemplate,
    compile: SandboxHandle,
    runs: number,
    done: () => void,
  ): WarmStages {
    const spares: Promise<Prepared | null>[] = [];
    let served = 0;
    let ended = false;
    const prefetch = () => {
      if (ended || served + spares.length >= runs) return;
      spares.push(this.#spawnStage(template.run, claimed.build.hostPath, true).catch(() => null));
    };
    return {
      buildHostPath: claimed.build.hostPath,
      removeBuild: () => claimed.build.remove(),
      compile,
      run: async (spec, output) => {
        if (ended) return null;
        const first = served === 0;
        const sandbox = first ? claimed.run : await (spares.shift() ?? Promise.resolve(null));
        served += 1;
        if (!sandbox?.prepared.alive) {
          if (sandbox) void sandbox.prepared.discard();
          if (first) done();
          return null;
        }
        const handle = this.#start(sandbox, spec, output);
        prefetch();
        if (first) void handle.exited.then(done);
        return handle;
      },
      release: async () => {
        if (ended) return;
        ended = true;
        // Not awaited: a spare still being built is discarded when it is ready, off the result's path.
        for (const spare of spares.splice(0)) void spare.then((s) => s?.prepared.discard());
        if (served > 0) return;
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

  /** One stage's sandbox around `buildHostPath`; the program's gets an /artifacts, the compiler's none. */
  async #spawnStage(stage: WarmTemplate, buildHostPath: string, program: boolean): Promise<Prepared> {
    const cgroups = await RunCgroups.create(SPAWN_LIMITS(this.#options.extraTasks));
    const artifacts = program ? await this.#options.artifacts?.create() : null;
    const plan = bwrapWarmPlan(stage, cgroups, artifacts, buildHostPath);
    return { prepared: await prepareRun(plan, this.#options.warn, this.#options.launch), cgroups };
  }

  async #spawnPair(template: StagesTemplate): Promise<Pair> {
    const build = await createBuildDir(template.buildSizeMb, this.#options.warn);
    const spawned: Prepared[] = [];
    try {
      spawned.push(await this.#spawnStage(template.compile, build.hostPath, false));
      spawned.push(await this.#spawnStage(template.run, build.hostPath, true));
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
