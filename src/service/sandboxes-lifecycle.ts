import { CrucibleError } from '../core/index.js';
import { DEFAULT_OBJECT_RETRY, putRetried, type ObjectStore } from '../objects/index.js';
import { AgentError, type AgentClient } from '../runtime/sandbox/agent-client.js';
import type {
  SandboxInstance,
  SandboxInstanceSpec,
  SandboxRuntime,
} from '../runtime/sandbox/sandbox-runtime.js';
import type { ProjectStore, SandboxRecord, SandboxStore } from '../store/store.js';
import type { Caller } from './caller.js';
import { dropCheckpoint, resumeFromCheckpoint, saveCheckpoint } from './sandboxes-checkpoint.js';
import {
  isLiveStatus,
  LIVE_STATUSES,
  ownerUrl,
  takeOver,
  type SandboxReplica,
} from './sandboxes-replicas.js';
import type { ExecCapture } from './sandboxes-exec.js';
import type { PtySession } from './sandboxes-pty.js';
import { fromAgentCode, SandboxError, viewOf, type SandboxView } from './sandboxes-types.js';

export interface SandboxServiceOptions {
  readonly store: SandboxStore;
  readonly projects?: ProjectStore;
  readonly runtime: SandboxRuntime;
  readonly objects: ObjectStore;
  readonly log: { info(message: string): void; warn(message: string): void };
  /** Sandboxes a user may hold at once (not terminated) when their token sets no `maxRunning`; default 10. */
  readonly maxSandboxesPerUser?: number;
  /** How often idle and expired sandboxes are looked for; default 5 s. */
  readonly sweepIntervalMs?: number;
  readonly now?: () => Date;
  /** Set when replicas share the store: live sandboxes are owned by one replica (sandboxes-replicas.ts). */
  readonly replica?: SandboxReplica;
}

/** A sandbox whose instance runs in this process. */
export interface LiveSandbox {
  readonly instance: SandboxInstance;
  /** Replaced when a backend whose stream can drop (Kubernetes) hands out a fresh agent connection. */
  client: AgentClient;
  readonly execs: Map<string, ExecCapture>;
  readonly ptys: Map<string, PtySession>;
  lastActive: number;
}

const SNAPSHOT_KEY = (id: string) => `sandboxes/${id}/workspace.tar`;
export const DEFAULTS = {
  memoryMb: 512,
  workspaceMb: 512,
  idleTimeoutSeconds: 300,
  maxProcesses: 256,
  tmpSizeMb: 64,
};

/**
 * The lifecycle half of SandboxService (sandboxes.ts): the instances live in this process, their start,
 * take-over from a dead replica, resume (checkpoint or workspace archive), hibernation, termination and the
 * idle sweeper, one step at a time per sandbox. The calls made in sandboxes (exec, files, PTY) and creation
 * are SandboxService's.
 */
export class SandboxLifecycle {
  protected readonly opts: SandboxServiceOptions;
  protected readonly liveSandboxes = new Map<string, LiveSandbox>();
  /** One lifecycle step at a time per sandbox (resume, hibernate, terminate). */
  readonly #locks = new Map<string, Promise<unknown>>();
  #sweeper: NodeJS.Timeout | null = null;
  protected readonly now: () => Date;

  constructor(options: SandboxServiceOptions) {
    this.opts = options;
    this.now = options.now ?? (() => new Date());
  }

  get runtimeName(): string {
    return this.opts.runtime.name;
  }

  /** This replica's id, recorded as the owner of the sandboxes it runs; null without replicas. */
  protected get me(): string | null {
    return this.opts.replica?.id ?? null;
  }

  get replicaId(): string | null {
    return this.me;
  }

  /** Ends what the previous server left (its local sandboxes died with it) and starts the idle sweeper. */
  async start(): Promise<void> {
    if (this.opts.replica) await this.#takeOverOrphans();
    else await this.#loseEverything();
    this.#sweeper = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs ?? 5000);
    this.#sweeper.unref();
  }

  /** Replicas: takes over the live sandboxes of this replica's previous process and of replicas gone. */
  async #takeOverOrphans(): Promise<void> {
    const replica = this.opts.replica!;
    for (const status of LIVE_STATUSES) {
      for (const s of await this.opts.store.listSandboxes({ status, limit: 10_000 })) {
        if (s.owner !== null && s.owner !== replica.id && (await replica.directory.liveReplica(s.owner)))
          continue;
        const why = s.owner === replica.id ? 'the server restarted' : `its replica ${s.owner ?? '?'} is gone`;
        await this.#takeOverGone(s, why);
      }
    }
  }

  /**
   * Takes over a live sandbox whose owner is gone. The owner is claimed first (compare-and-set), then the
   * instance itself is adopted when the backend still runs it (a Kubernetes pod outlives its server: nothing
   * is lost but the execs that were running), else it goes back to its snapshot (`takeOver`).
   */
  async #takeOverGone(record: SandboxRecord, why: string): Promise<SandboxRecord> {
    const at = this.now().toISOString();
    const mine = await this.opts.store.updateSandbox(
      record.id,
      LIVE_STATUSES,
      { owner: this.me },
      record.owner,
    );
    if (!mine) return (await this.opts.store.getSandbox(record.id)) ?? record;
    const instance = this.opts.runtime.adopt
      ? await this.opts.runtime.adopt(record.id, this.#spec(record, [])).catch(() => null)
      : null;
    if (instance) {
      await this.#adopt(record.id, instance);
      await this.opts.store.loseRunningExecs(at, record.id);
      const ready = await this.opts.store.updateSandbox(record.id, LIVE_STATUSES, { status: 'ready' });
      this.opts.log.info(`sandbox ${record.id}: ${why}; its running instance was adopted`);
      return ready ?? mine;
    }
    return (await takeOver(this.opts.store, mine, why, at)) ?? mine;
  }

  /** A single server: nothing of what was live survived it. */
  async #loseEverything(): Promise<void> {
    const at = this.now().toISOString();
    const lost = await this.opts.store.loseRunningExecs(at);
    if (lost > 0)
      this.opts.log.warn(`${lost} sandbox execs were running when the server stopped: marked lost`);
    for (const status of ['starting', 'ready'] as const) {
      for (const s of await this.opts.store.listSandboxes({ status, limit: 10_000 })) {
        await this.opts.store.updateSandbox(s.id, [status], {
          status: 'error',
          error: 'lost when the server restarted (its workspace was not hibernated)',
        });
      }
    }
  }

  /** Hibernates every live sandbox (so a restart loses nothing), then closes the runtime. */
  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    await Promise.all(
      [...this.liveSandboxes.keys()].map((id) =>
        this.#hibernate(id).catch((e: unknown) => this.opts.log.warn(`cannot hibernate ${id}: ${String(e)}`)),
      ),
    );
    await this.opts.runtime.close();
  }

  protected locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(id, next);
    void next.finally(() => this.#locks.get(id) === next && this.#locks.delete(id)).catch(() => undefined);
    return next;
  }

  /** @throws CrucibleError not_found for a missing sandbox and for another user's */
  protected async visible(caller: Caller, id: string): Promise<SandboxRecord> {
    const record = await this.opts.store.getSandbox(id);
    if (!record || !(caller.admin || (caller.user !== null && record.user === caller.user))) {
      throw new CrucibleError('not_found', `no sandbox with id "${id}"`, 'id');
    }
    return record;
  }

  protected view(record: SandboxRecord): SandboxView {
    const live = this.liveSandboxes.get(record.id);
    return viewOf(record, live ? new Date(live.lastActive).toISOString() : undefined);
  }

  #spec(record: SandboxRecord, files: SandboxInstanceSpec['files']): SandboxInstanceSpec {
    return {
      sandboxId: record.id,
      language: record.language,
      limits: {
        memoryMb: record.memoryMb,
        maxProcesses: DEFAULTS.maxProcesses,
        workspaceMb: record.workspaceMb,
        tmpSizeMb: DEFAULTS.tmpSizeMb,
        cpus: null,
      },
      env: record.env,
      files,
      labels: record.labels,
    };
  }

  /** Starts the instance of a `starting` sandbox and makes it `ready`. */
  protected async startInstance(record: SandboxRecord, files: SandboxInstanceSpec['files']): Promise<void> {
    const instance = await this.opts.runtime.create(this.#spec(record, files));
    await this.#adopt(record.id, instance);
    await this.opts.store.updateSandbox(record.id, ['starting'], { status: 'ready' });
  }

  async #adopt(id: string, instance: SandboxInstance): Promise<LiveSandbox> {
    const client = await instance.connect();
    const live: LiveSandbox = {
      instance,
      client,
      execs: new Map(),
      ptys: new Map(),
      lastActive: this.now().getTime(),
    };
    this.liveSandboxes.set(id, live);
    void instance.ended.then(async (exit) => {
      if (this.liveSandboxes.get(id) !== live) return;
      this.liveSandboxes.delete(id);
      for (const pty of live.ptys.values()) pty.close({ code: null, signal: null, reason: exit.message });
      this.opts.log.warn(`sandbox ${id} ended by itself: ${exit.message}`);
      await this.opts.store.updateSandbox(id, ['ready'], { status: 'error', error: exit.message });
    });
    return live;
  }

  /**
   * The live sandbox for a call: resumes a hibernated one first. Marks it active.
   * @throws SandboxError sandbox_terminated for a terminated or failed one
   */
  protected async ready(caller: Caller, id: string, visible?: SandboxRecord): Promise<LiveSandbox> {
    // A caller that checked visibility just now passes the record: one store read less per exec.
    const record = visible ?? (await this.visible(caller, id));
    const current = this.liveSandboxes.get(id);
    if (current && !current.client.alive) {
      // A dropped connection (a Kubernetes exec stream) may be reopened: a fresh agent, the same workspace.
      current.client = await current.instance.connect().catch(() => current.client);
    }
    if (current && current.client.alive) {
      current.lastActive = this.now().getTime();
      return current;
    }
    if (record.status === 'terminated' || record.status === 'error') {
      throw new SandboxError(
        'sandbox_terminated',
        `sandbox ${id} is ${record.status}${record.error ? `: ${record.error}` : ''}`,
      );
    }
    // Live on another replica that this call could not be forwarded to: sandbox_unavailable.
    if (this.opts.replica) await ownerUrl(record, this.opts.replica, true);
    const live = await this.locked(id, () => this.#resume(id));
    live.lastActive = this.now().getTime();
    return live;
  }

  async get(caller: Caller, id: string): Promise<SandboxView> {
    return this.view(await this.visible(caller, id));
  }

  async resume(caller: Caller, id: string): Promise<SandboxView> {
    await this.ready(caller, id);
    return this.get(caller, id);
  }

  async #resume(id: string): Promise<LiveSandbox> {
    const existing = this.liveSandboxes.get(id);
    if (existing?.client.alive) return existing;
    let record = (await this.opts.store.getSandbox(id)) as SandboxRecord;
    if (
      this.opts.replica &&
      isLiveStatus(record) &&
      (await ownerUrl(record, this.opts.replica, true)) === null
    ) {
      // Its owner is gone (or was this replica's previous process): take it over.
      const why = `its replica ${record.owner ?? '?'} is gone`;
      record = await this.#takeOverGone(record, why);
      const adopted = this.liveSandboxes.get(id);
      if (adopted?.client.alive) return adopted;
      if (record.status === 'error' || record.status === 'terminated') {
        throw new SandboxError('sandbox_terminated', `sandbox ${id} is ${record.status}: ${record.error}`);
      }
    }
    if (record.status !== 'hibernated' || !record.snapshotKey) {
      throw new SandboxError(
        'sandbox_unavailable',
        `sandbox ${id} is ${record.status} and has no live instance`,
      );
    }
    // Claimed first, by compare-and-set: two replicas resuming it at once never both run it.
    const claim = { status: 'starting' as const, owner: this.me };
    if (!(await this.opts.store.updateSandbox(id, ['hibernated'], claim, record.owner))) {
      throw new SandboxError('sandbox_unavailable', `sandbox ${id} is being resumed elsewhere; retry`);
    }
    try {
      const live = await this.#restore(record);
      await this.opts.store.updateSandbox(id, ['starting'], {
        status: 'ready',
        lastActiveAt: this.now().toISOString(),
      });
      return live;
    } catch (error) {
      await this.opts.store.updateSandbox(id, ['starting'], { status: 'hibernated', owner: null });
      throw error;
    }
  }

  /** A new instance of a hibernated sandbox: its checkpoint (processes too) or its workspace archive. */
  async #restore(record: SandboxRecord): Promise<LiveSandbox> {
    const id = record.id;
    const spec = this.#spec(record, []);
    const restored = await resumeFromCheckpoint(this.opts.runtime, spec, this.opts.objects, this.opts.log);
    if (restored) return this.#adopt(id, restored);
    const tar = await this.opts.objects.get(record.snapshotKey!);
    if (!tar) throw new SandboxError('sandbox_unavailable', `the snapshot of sandbox ${id} is missing`);
    const instance = await this.opts.runtime.create(spec);
    try {
      const live = await this.#adopt(id, instance);
      await live.client.restore(tar);
      return live;
    } catch (error) {
      this.liveSandboxes.delete(id);
      await instance.destroy();
      throw agentFailure(error, null);
    }
  }

  async hibernate(caller: Caller, id: string): Promise<SandboxView> {
    const record = await this.visible(caller, id);
    if (record.status === 'terminated' || record.status === 'error') {
      throw new SandboxError('sandbox_terminated', `sandbox ${id} is ${record.status}`);
    }
    await this.locked(id, () => this.#hibernate(id));
    return this.get(caller, id);
  }

  /** Archives the workspace to the object store, then frees the instance. */
  async #hibernate(id: string): Promise<void> {
    const live = this.liveSandboxes.get(id);
    if (!live) return;
    if (this.opts.replica) {
      // Taken over meanwhile (this replica's lease lapsed): its snapshot is the new owner's to write now.
      const record = await this.opts.store.getSandbox(id);
      if (!record || record.status !== 'ready' || record.owner !== this.me) {
        this.#drop(id, live, 'the sandbox was taken over by another replica');
        return;
      }
    }
    await dropCheckpoint(this.opts.objects, id);
    const chunks: Buffer[] = [];
    await live.client.archive((chunk) => chunks.push(chunk));
    const tar = Buffer.concat(chunks);
    const key = SNAPSHOT_KEY(id);
    await putRetried(
      this.opts.objects,
      key,
      tar,
      { contentType: 'application/x-tar' },
      DEFAULT_OBJECT_RETRY,
      (e, n) =>
        this.opts.log.warn(
          `storing the snapshot of sandbox ${id} failed (attempt ${n}); retrying: ${String(e)}`,
        ),
    );
    for (const pty of live.ptys.values())
      pty.close({ code: null, signal: null, reason: 'the sandbox hibernated' });
    // gVisor: the processes too (the archive above is the fallback); the instance is stopped then. Only
    // when something runs besides the agent: for an idle sandbox the archive is the whole state promised,
    // and a checkpoint costs seconds for a large workspace (this runsc compresses the image).
    const running = live.instance.checkpoint ? await live.client.processes().catch(() => 1) : 0;
    if (running > 0) await saveCheckpoint(live.instance, this.opts.objects, id, this.opts.log);
    this.liveSandboxes.delete(id);
    const at = this.now().toISOString();
    await this.opts.store.updateSandbox(id, ['ready'], {
      status: 'hibernated',
      owner: null,
      snapshotKey: key,
      snapshotBytes: tar.length,
      hibernatedAt: at,
      lastActiveAt: new Date(live.lastActive).toISOString(),
    });
    // The workspace is safe in the object store: tearing the instance down need not delay the answer.
    void live.instance
      .destroy()
      .catch((e: unknown) => this.opts.log.warn(`cannot destroy sandbox ${id}: ${String(e)}`));
  }

  async terminate(caller: Caller, id: string): Promise<SandboxView> {
    await this.visible(caller, id);
    await this.locked(id, () => this.#terminate(id));
    return this.get(caller, id);
  }

  async #terminate(id: string): Promise<void> {
    const live = this.liveSandboxes.get(id);
    this.liveSandboxes.delete(id);
    for (const pty of live?.ptys.values() ?? [])
      pty.close({ code: null, signal: null, reason: 'the sandbox was deleted' });
    await live?.instance.destroy();
    // Its execs ended with it; their last writes land before the sandbox reads as terminated.
    await Promise.all([...(live?.execs.values() ?? [])].map((capture) => capture.done));
    await this.opts.objects.delete(SNAPSHOT_KEY(id));
    await dropCheckpoint(this.opts.objects, id);
    await this.opts.store.updateSandbox(id, ['starting', 'ready', 'hibernated', 'error'], {
      status: 'terminated',
      terminatedAt: this.now().toISOString(),
      snapshotKey: null,
    });
  }

  /** Forgets a local instance without touching the store (its record belongs to someone else now). */
  #drop(id: string, live: LiveSandbox, reason: string): void {
    this.liveSandboxes.delete(id);
    for (const pty of live.ptys.values()) pty.close({ code: null, signal: null, reason });
    void live.instance
      .destroy()
      .catch((e: unknown) => this.opts.log.warn(`cannot destroy sandbox ${id}: ${String(e)}`));
  }

  /** Hibernates idle sandboxes (no exec running, no PTY viewer) and terminates expired ones. */
  async sweep(): Promise<void> {
    const now = this.now().getTime();
    for (const [id, live] of [...this.liveSandboxes]) {
      const record = await this.opts.store.getSandbox(id);
      if (!record) continue;
      if (this.opts.replica && (!isLiveStatus(record) || record.owner !== this.me)) {
        // Another replica took it over (this one's lease lapsed): this instance must not run on beside it.
        this.#drop(id, live, 'the sandbox was taken over by another replica');
        continue;
      }
      const expired =
        record.maxLifetimeSeconds !== null &&
        now - Date.parse(record.createdAt) > record.maxLifetimeSeconds * 1000;
      if (expired) {
        await this.locked(id, () => this.#terminate(id)).catch(() => undefined);
        continue;
      }
      const busy =
        [...live.execs.values()].some((e) => !e.ended) || [...live.ptys.values()].some((p) => p.viewers > 0);
      if (busy) live.lastActive = now;
      else if (now - live.lastActive > record.idleTimeoutSeconds * 1000) {
        await this.locked(id, () => this.#hibernate(id)).catch((e: unknown) =>
          this.opts.log.warn(`cannot hibernate idle sandbox ${id}: ${String(e)}`),
        );
      }
    }
  }
}

/** Agent errors as API errors naming `field`; anything else as it is. */
export function agentFailure(error: unknown, field: string | null): unknown {
  if (error instanceof AgentError) {
    if (error.code === 'sandbox_unavailable') return new SandboxError('sandbox_unavailable', error.message);
    return fromAgentCode(error.code, error.message, field);
  }
  return error;
}
