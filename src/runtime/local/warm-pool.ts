import type { ArtifactsMounts } from './artifacts-mount.js';
import type { OutputStream } from '../../core/index.js';
import { bwrapWarmPlan, warmTemplateOf, type WarmTemplate } from './bwrap.js';
import { RunCgroups, cgroupLimitsFor, type CgroupLimits } from './cgroups.js';
import { prepareRun, type PreparedRun } from './process-run.js';
import type { SandboxHandle, SandboxSpec } from './sandbox-types.js';
import type { Launcher } from './spawned.js';

interface WarmSandbox {
  readonly prepared: PreparedRun;
  readonly cgroups: RunCgroups;
  readonly limits: CgroupLimits;
}

export interface WarmPoolOptions {
  /** Idle sandboxes kept ready per kind of run (interpreter, code path, /tmp size). */
  readonly perTemplate: number;
  /** Tasks bwrap itself adds to the pids cgroup. */
  readonly extraTasks: number;
  readonly warn: (message: string) => void;
  /** How sandboxes are spawned (directly, or through the spawner helper). */
  readonly launch: Launcher;
  /** Each pre-spawned sandbox gets its own `/artifacts` from here (absent: none). */
  readonly artifacts?: ArtifactsMounts | null;
}

/**
 * Pre-spawned bwrap sandboxes, fully set up (namespaces, mounts, cgroups, dropped privileges) and waiting at
 * the gate for their code. Claiming one skips the sandbox set-up on the evaluation's critical path. Each
 * sandbox serves exactly one evaluation and is never reused; a claim triggers a refill in the background.
 * A kind of run is learned from its first (cold) evaluation.
 */
export class WarmPool {
  readonly #options: WarmPoolOptions;
  readonly #idle = new Map<string, WarmSandbox[]>();
  readonly #filling = new Set<string>();
  /** Claimed sandboxes still running, per kind: with more slots than `perTemplate`, the pool keeps that many. */
  readonly #running = new Map<string, number>();
  #closed = false;

  constructor(options: WarmPoolOptions) {
    this.#options = options;
  }

  /**
   * Starts the spec in a pre-spawned sandbox if one fits, else returns null (and learns the kind of run so
   * the next one is warm).
   */
  launch(spec: SandboxSpec, onOutput: (stream: OutputStream, data: Buffer) => void): SandboxHandle | null {
    const template = warmTemplateOf(spec);
    if (!template || this.#closed) return null;
    const key = JSON.stringify(template);
    const idle = this.#idle.get(key) ?? [];
    this.#idle.set(key, idle);
    let sandbox = idle.shift();
    while (sandbox && !sandbox.prepared.alive) {
      void sandbox.prepared.discard();
      sandbox = idle.shift();
    }
    if (!sandbox) {
      this.#refill(key, template);
      return null;
    }
    sandbox.cgroups.setLimits(sandbox.limits, cgroupLimitsFor(spec.limits, this.#options.extraTasks));
    const handle = sandbox.prepared.start({
      stdin: spec.stdin,
      lateInputs: spec.files.map((f) => f.content),
      onOutput,
      timeoutMs: spec.limits.timeoutSeconds * 1000,
    });
    // Refill once this run is over, not while it runs: building a sandbox costs CPU the run may need, and
    // the pool keeps more than one ready so a steady stream of evaluations still finds one. Only a claim
    // that took the last one refills at once: the next evaluation would otherwise start cold.
    this.#running.set(key, (this.#running.get(key) ?? 0) + 1);
    if (idle.length === 0) this.#refill(key, template);
    void handle.exited.then(() => {
      this.#running.set(key, (this.#running.get(key) ?? 1) - 1);
      this.#refill(key, template);
    });
    return handle;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.all(all.map((s) => s.prepared.discard()));
  }

  /** As many as run at once now (the next ones are likely as many), at least `perTemplate`. */
  #target(key: string): number {
    return Math.max(this.#options.perTemplate, (this.#running.get(key) ?? 0) + 1);
  }

  #refill(key: string, template: WarmTemplate): void {
    if (this.#filling.has(key)) return;
    this.#filling.add(key);
    void (async () => {
      try {
        while (!this.#closed && (this.#idle.get(key)?.length ?? 0) < this.#target(key)) {
          // Spawned with generous limits; the claiming evaluation's own limits are set before its code runs.
          const limits: CgroupLimits = {
            memoryBytes: 1024 * 1024 * 1024,
            maxTasks: 64 + this.#options.extraTasks,
          };
          const cgroups = await RunCgroups.create(limits);
          const prepared = await prepareRun(
            bwrapWarmPlan(template, cgroups, await this.#options.artifacts?.create()),
            this.#options.warn,
            this.#options.launch,
          );
          if (this.#closed) await prepared.discard();
          else this.#idle.get(key)?.push({ prepared, cgroups, limits });
        }
      } catch (error) {
        this.#options.warn(`cannot pre-spawn a sandbox: ${String(error)}`);
      } finally {
        this.#filling.delete(key);
      }
    })();
  }
}
