import { constants, readFileSync, writeFileSync } from 'node:fs';
import { access, mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Limits } from '../../core/index.js';

/**
 * Per-run cgroup v1 directories. Every run gets one child in the memory, pids and cpuacct hierarchies (and cpu
 * where the host has it), named `<server pid>-<run number>` under a `crucible` parent, so a restarted server
 * can tell a crashed server's leftovers (owner pid dead) from the live runs of another server on the same host.
 */
const ROOT = '/sys/fs/cgroup';
const PARENT = 'crucible';
const REQUIRED = ['memory', 'pids', 'cpuacct'] as const;
type Controller = (typeof REQUIRED)[number] | 'cpu';
/**
 * Every run starts a new session (setsid), and with the kernel's autogroup scheduling each session is its own
 * scheduling entity: eight busy sandboxes got eight ninths of the CPU and the server, its database and its
 * other replicas shared the last ninth, so events and answers waited behind untrusted code. Under one `cpu`
 * parent the sandboxes together weigh as one session (cpu.shares 1024), fair among themselves, and take every
 * idle cycle — the control plane keeps its share however many programs burn CPU.
 */
const OPTIONAL: readonly Controller[] = ['cpu'];
let controllers: readonly Controller[] = REQUIRED;

export interface CgroupStats {
  readonly cpuTimeMs: number | null;
  readonly peakMemoryBytes: number | null;
  readonly oomKilled: boolean;
}

export interface CgroupLimits {
  readonly memoryBytes: number;
  readonly maxTasks: number;
}

/** A run's cgroup limits: its memory, and its processes plus the tasks the isolation layer itself adds. */
export function cgroupLimitsFor(limits: Limits, extraTasks: number): CgroupLimits {
  return { memoryBytes: limits.memoryMb * 1024 * 1024, maxTasks: limits.maxProcesses + extraTasks };
}

/** Probes once whether we can create run cgroups; returns the reason when we cannot. */
export async function probeCgroups(): Promise<string | null> {
  try {
    for (const c of REQUIRED) await openParent(c);
    // The memory parent must not cap runs on its own; hierarchy makes the children's limits count.
  } catch (error) {
    return `cgroup v1 controllers (${REQUIRED.join(', ')}) are not writable under ${ROOT}: ${String(error)}`;
  }
  const optional = await Promise.all(
    OPTIONAL.map((c) =>
      openParent(c).then(
        () => c,
        () => null,
      ),
    ),
  );
  controllers = [...REQUIRED, ...optional.filter((c): c is Controller => c !== null)];
  return null;
}

/** The hierarchies runs are placed in on this host (the optional ones once probed). */
export function runControllers(): readonly Controller[] {
  return controllers;
}

async function openParent(controller: Controller): Promise<void> {
  await access(join(ROOT, controller, 'cgroup.procs'), constants.W_OK);
  await mkdir(join(ROOT, controller, PARENT), { recursive: true });
}

let runCounter = 0;

export class RunCgroups {
  readonly name: string;
  /** Fixed at creation, so a run is removed from exactly the hierarchies it was created in. */
  private readonly hierarchies = controllers;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates the run's cgroups with their limits; memsw is set too so swap cannot bypass the memory limit. */
  static async create(limits: CgroupLimits): Promise<RunCgroups> {
    const cg = new RunCgroups(`${process.pid}-${++runCounter}`);
    await Promise.all(cg.hierarchies.map((c) => mkdir(cg.dir(c))));
    try {
      const bytes = String(limits.memoryBytes);
      // memsw must stay >= limit_in_bytes, so the plain limit is written first.
      await writeFile(join(cg.dir('memory'), 'memory.limit_in_bytes'), bytes);
      await Promise.all([
        writeIfPresent(join(cg.dir('memory'), 'memory.memsw.limit_in_bytes'), bytes),
        writeFile(join(cg.dir('pids'), 'pids.max'), String(limits.maxTasks)),
      ]);
    } catch (error) {
      await cg.remove();
      throw error;
    }
    return cg;
  }

  /**
   * Changes the limits of a pre-spawned run just before its program starts. Synchronous on purpose: cgroupfs
   * writes return at once, and this is on the launch path. memsw must stay >= limit_in_bytes at every step.
   */
  setLimits(from: CgroupLimits, to: CgroupLimits): void {
    const memory = (file: string, bytes: number) => {
      try {
        writeFileSync(join(this.dir('memory'), file), String(bytes));
      } catch (error) {
        if (file === 'memory.limit_in_bytes' || (error as NodeJS.ErrnoException).code !== 'ENOENT')
          throw error;
      }
    };
    if (to.memoryBytes !== from.memoryBytes) {
      const order =
        to.memoryBytes < from.memoryBytes
          ? ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']
          : ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes'];
      for (const file of order) memory(file, to.memoryBytes);
    }
    if (to.maxTasks !== from.maxTasks) writeFileSync(join(this.dir('pids'), 'pids.max'), String(to.maxTasks));
  }

  /** The `cgroup.procs` files a wrapper writes its pid into before exec'ing the untrusted program. */
  get procsFiles(): string[] {
    return this.hierarchies.map((c) => join(this.dir(c), 'cgroup.procs'));
  }

  /**
   * Moves processes into the run's cgroups. Their children are born inside, so this must happen before a
   * process of the run can fork a program. Synchronous: a few tiny cgroupfs writes on the launch path.
   */
  join(pids: readonly number[]): void {
    for (const file of this.procsFiles) for (const pid of pids) writeFileSync(file, String(pid));
  }

  /** SIGKILLs every process of the run, repeating until none is left (v1 has no cgroup.kill). */
  async killAll(): Promise<void> {
    await killCgroup(this.dir('pids'));
  }

  /** Synchronous: three tiny cgroupfs reads on the result's critical path, cheaper than thread-pool hops. */
  stats(): CgroupStats {
    const [usage, peak, oom] = [
      readOptionalSync(join(this.dir('cpuacct'), 'cpuacct.usage')),
      readOptionalSync(join(this.dir('memory'), 'memory.max_usage_in_bytes')),
      readOptionalSync(join(this.dir('memory'), 'memory.oom_control')),
    ];
    const oomKills = oom ? Number(/oom_kill (\d+)/.exec(oom)?.[1] ?? '0') : 0;
    return {
      cpuTimeMs: usage === null ? null : Math.round(Number(usage) / 1e6),
      peakMemoryBytes: peak === null ? null : Number(peak),
      oomKilled: oomKills > 0,
    };
  }

  async remove(): Promise<void> {
    await Promise.all(this.hierarchies.map((c) => removeCgroup(this.dir(c))));
  }

  private dir(controller: Controller): string {
    return join(ROOT, controller, PARENT, this.name);
  }
}

/** Kills and removes run cgroups whose owning server process is gone (a crashed previous server). */
export async function removeStaleCgroups(): Promise<number> {
  let removed = 0;
  for (const c of [...REQUIRED, ...OPTIONAL]) {
    const parent = join(ROOT, c, PARENT);
    const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory() || isOwnerAlive(entry.name)) continue;
      await killCgroup(join(parent, entry.name));
      await removeCgroup(join(parent, entry.name));
      removed++;
    }
  }
  return removed;
}

function isOwnerAlive(name: string): boolean {
  const pid = Number(name.split('-')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killCgroup(dir: string): Promise<void> {
  // A fork bomb can add processes while we kill; pids.max bounds it and the PID namespace dies with its init,
  // so a few rounds always empty it. Reads are synchronous: usually the cgroup is already empty and this is
  // on the result's critical path.
  for (let round = 0; round < 100; round++) {
    const procs = readOptionalSync(join(dir, 'cgroup.procs'));
    const pids = (procs ?? '')
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone (ESRCH) between reading the list and killing it.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, round < 10 ? 1 : 10));
  }
}

async function removeCgroup(dir: string): Promise<void> {
  // rmdir fails with EBUSY for a moment after the last task died while the kernel releases it.
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt === 49) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

async function writeIfPresent(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value);
  } catch (error) {
    // memsw files only exist when the kernel accounts swap (swapaccount=1); without them there is no bypass.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function readOptionalSync(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
