import { randomUUID } from 'node:crypto';
import { CrucibleError, findLanguage } from '../core/index.js';
import { DEFAULT_OBJECT_RETRY, putRetried, type ObjectStore } from '../objects/index.js';
import { AgentError, type AgentClient } from '../runtime/sandbox/agent-client.js';
import type {
  SandboxInstance,
  SandboxInstanceSpec,
  SandboxRuntime,
} from '../runtime/sandbox/sandbox-runtime.js';
import type { ProjectStore, SandboxRecord, SandboxStatus, SandboxStore } from '../store/store.js';
import type { Caller } from './caller.js';
import { dropCheckpoint, resumeFromCheckpoint, saveCheckpoint } from './sandboxes-checkpoint.js';
import { runExec, followStoredExec, type ExecHandle } from './sandboxes-execs.js';
import {
  isLiveStatus,
  LIVE_STATUSES,
  ownerUrl,
  takeOver,
  type SandboxReplica,
} from './sandboxes-replicas.js';
import type { ExecCapture } from './sandboxes-exec.js';
import { PtySession, type PtyViewer } from './sandboxes-pty.js';
import {
  fromAgentCode,
  SandboxError,
  viewOf,
  type ExecEvent,
  type ExecRequest,
  type NewSandbox,
  type SandboxView,
} from './sandboxes-types.js';

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

const HOLDING: readonly SandboxStatus[] = ['starting', 'ready', 'hibernated'];
const SNAPSHOT_KEY = (id: string) => `sandboxes/${id}/workspace.tar`;
const DEFAULTS = {
  memoryMb: 512,
  workspaceMb: 512,
  idleTimeoutSeconds: 300,
  maxProcesses: 256,
  tmpSizeMb: 64,
};

/**
 * Interactive sandboxes (docs/sandboxes.md): their lifecycle — create, hibernate when idle, resume on the
 * next call, terminate —, and every call made in them, executed by the agent inside. A sandbox belongs to its
 * creator (others get 404) and counts against their quota. Its record, execs and exec output are in the store,
 * so output replays after a disconnect and after the sandbox is gone; its workspace snapshot is in the object
 * store under `sandboxes/<id>/workspace.tar`.
 */
export class SandboxService {
  readonly #o: SandboxServiceOptions;
  readonly #live = new Map<string, LiveSandbox>();
  /** One lifecycle step at a time per sandbox (resume, hibernate, terminate). */
  readonly #locks = new Map<string, Promise<unknown>>();
  #sweeper: NodeJS.Timeout | null = null;
  readonly #now: () => Date;

  constructor(options: SandboxServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  get runtimeName(): string {
    return this.#o.runtime.name;
  }

  /** This replica's id, recorded as the owner of the sandboxes it runs; null without replicas. */
  get #me(): string | null {
    return this.#o.replica?.id ?? null;
  }

  get replicaId(): string | null {
    return this.#me;
  }

  /** Tells the other replicas where to forward calls on the sandboxes live here (once listening). */
  async advertise(url: string): Promise<void> {
    if (this.#o.replica) await this.#o.replica.directory.advertiseReplica(this.#o.replica.id, url);
  }

  /**
   * The URL of the live replica that must serve calls on sandbox `id`, or null to serve them here (the API
   * forwards; a call that was forwarded already is never forwarded again).
   */
  async ownerUrl(id: string, forwarded: boolean): Promise<string | null> {
    if (!this.#o.replica || forwarded || this.#live.has(id)) return null;
    const record = await this.#o.store.getSandbox(id);
    return record ? ownerUrl(record, this.#o.replica, false) : null;
  }

  /** Ends what the previous server left (its local sandboxes died with it) and starts the idle sweeper. */
  async start(): Promise<void> {
    if (this.#o.replica) await this.#takeOverOrphans();
    else await this.#loseEverything();
    this.#sweeper = setInterval(() => void this.sweep(), this.#o.sweepIntervalMs ?? 5000);
    this.#sweeper.unref();
  }

  /** Replicas: takes over the live sandboxes of this replica's previous process and of replicas gone. */
  async #takeOverOrphans(): Promise<void> {
    const replica = this.#o.replica!;
    for (const status of LIVE_STATUSES) {
      for (const s of await this.#o.store.listSandboxes({ status, limit: 10_000 })) {
        if (s.owner !== null && s.owner !== replica.id && (await replica.directory.liveReplica(s.owner)))
          continue;
        const why = s.owner === replica.id ? 'the server restarted' : `its replica ${s.owner ?? '?'} is gone`;
        await takeOver(this.#o.store, s, why, this.#now().toISOString());
      }
    }
  }

  /** A single server: nothing of what was live survived it. */
  async #loseEverything(): Promise<void> {
    const at = this.#now().toISOString();
    const lost = await this.#o.store.loseRunningExecs(at);
    if (lost > 0) this.#o.log.warn(`${lost} sandbox execs were running when the server stopped: marked lost`);
    for (const status of ['starting', 'ready'] as const) {
      for (const s of await this.#o.store.listSandboxes({ status, limit: 10_000 })) {
        await this.#o.store.updateSandbox(s.id, [status], {
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
      [...this.#live.keys()].map((id) =>
        this.#hibernate(id).catch((e: unknown) => this.#o.log.warn(`cannot hibernate ${id}: ${String(e)}`)),
      ),
    );
    await this.#o.runtime.close();
  }

  #locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(id, next);
    void next.finally(() => this.#locks.get(id) === next && this.#locks.delete(id)).catch(() => undefined);
    return next;
  }

  /** @throws CrucibleError not_found for a missing sandbox and for another user's */
  async #visible(caller: Caller, id: string): Promise<SandboxRecord> {
    const record = await this.#o.store.getSandbox(id);
    if (!record || !(caller.admin || (caller.user !== null && record.user === caller.user))) {
      throw new CrucibleError('not_found', `no sandbox with id "${id}"`, 'id');
    }
    return record;
  }

  #view(record: SandboxRecord): SandboxView {
    const live = this.#live.get(record.id);
    return viewOf(record, live ? new Date(live.lastActive).toISOString() : undefined);
  }

  async create(caller: Caller, input: NewSandbox, idempotencyKey?: string): Promise<SandboxView> {
    const language = input.language ?? 'python';
    if (!findLanguage(language)) {
      throw new CrucibleError('unknown_language', `unknown language "${language}"`, 'language');
    }
    if (input.project !== undefined && !(await this.#o.projects?.getProject(input.project))) {
      throw new CrucibleError('invalid_request', `no project with id "${input.project}"`, 'project');
    }
    const id = randomUUID();
    if (idempotencyKey !== undefined) {
      const earlier = await this.#o.store.claimKey(
        `${caller.scope}|sandboxes`,
        idempotencyKey,
        fingerprint(input),
        id,
      );
      if (earlier) return this.#repeat(caller, earlier, idempotencyKey, fingerprint(input));
    }
    try {
      await this.#admit(caller);
    } catch (error) {
      // Nothing was made: a retry with the same key (once under the quota) must be able to run.
      if (idempotencyKey !== undefined)
        await this.#o.store.releaseKey(`${caller.scope}|sandboxes`, idempotencyKey);
      throw error;
    }
    const now = this.#now().toISOString();
    const record: SandboxRecord = {
      id,
      user: caller.user,
      project: input.project ?? null,
      language,
      status: 'starting',
      owner: this.#me,
      memoryMb: input.memoryMb ?? DEFAULTS.memoryMb,
      workspaceMb: input.workspaceMb ?? DEFAULTS.workspaceMb,
      idleTimeoutSeconds: input.idleTimeoutSeconds ?? DEFAULTS.idleTimeoutSeconds,
      maxLifetimeSeconds: input.maxLifetimeSeconds ?? null,
      labels: input.labels ?? {},
      env: input.env ?? {},
      runtime: this.#o.runtime.name,
      snapshotKey: null,
      snapshotBytes: null,
      error: null,
      createdAt: now,
      lastActiveAt: now,
      hibernatedAt: null,
      terminatedAt: null,
    };
    await this.#o.store.insertSandbox(record);
    const files = (input.files ?? []).map((f) => ({
      path: f.path,
      content: Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8'),
      ...(f.mode === undefined ? {} : { mode: f.mode }),
    }));
    try {
      await this.#locked(id, () => this.#start(record, files));
    } catch (error) {
      await this.#o.store.updateSandbox(id, ['starting'], { status: 'error', error: String(error) });
      throw agentFailure(error, 'files');
    }
    return this.#view((await this.#o.store.getSandbox(id)) as SandboxRecord);
  }

  async #repeat(caller: Caller, earlier: { fingerprint: string; targetId: string }, key: string, fp: string) {
    if (earlier.fingerprint !== fp) {
      throw new CrucibleError(
        'idempotency_conflict',
        `Idempotency-Key "${key}" was already used for a different request; use a new key`,
        'idempotency-key',
      );
    }
    return this.#view(await this.#visible(caller, earlier.targetId));
  }

  /** @throws CrucibleError quota_exceeded when the user holds their limit of sandboxes */
  async #admit(caller: Caller): Promise<void> {
    if (caller.user === null) return;
    const limit = caller.token?.maxRunning ?? this.#o.maxSandboxesPerUser ?? 10;
    const held = await this.#o.store.countSandboxes(caller.user, HOLDING);
    if (held >= limit) {
      throw new CrucibleError(
        'quota_exceeded',
        `user "${caller.user}" holds ${held} sandboxes, the limit (${caller.token?.maxRunning != null ? 'maxRunning of their token' : 'maxSandboxesPerUser'} = ${limit}); delete one first`,
        null,
      );
    }
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
  async #start(record: SandboxRecord, files: SandboxInstanceSpec['files']): Promise<void> {
    const instance = await this.#o.runtime.create(this.#spec(record, files));
    await this.#adopt(record.id, instance);
    await this.#o.store.updateSandbox(record.id, ['starting'], { status: 'ready' });
  }

  async #adopt(id: string, instance: SandboxInstance): Promise<LiveSandbox> {
    const client = await instance.connect();
    const live: LiveSandbox = {
      instance,
      client,
      execs: new Map(),
      ptys: new Map(),
      lastActive: this.#now().getTime(),
    };
    this.#live.set(id, live);
    void instance.ended.then(async (exit) => {
      if (this.#live.get(id) !== live) return;
      this.#live.delete(id);
      for (const pty of live.ptys.values()) pty.close({ code: null, signal: null, reason: exit.message });
      this.#o.log.warn(`sandbox ${id} ended by itself: ${exit.message}`);
      await this.#o.store.updateSandbox(id, ['ready'], { status: 'error', error: exit.message });
    });
    return live;
  }

  async get(caller: Caller, id: string): Promise<SandboxView> {
    return this.#view(await this.#visible(caller, id));
  }

  async list(caller: Caller, status?: SandboxStatus): Promise<SandboxView[]> {
    const records = await this.#o.store.listSandboxes({
      ...(caller.admin ? {} : { user: caller.user ?? '\0' }),
      ...(status ? { status } : {}),
      limit: 1000,
    });
    return records.map((r) => this.#view(r));
  }

  /**
   * The live sandbox for a call: resumes a hibernated one first. Marks it active.
   * @throws SandboxError sandbox_terminated for a terminated or failed one
   */
  async #ready(caller: Caller, id: string, visible?: SandboxRecord): Promise<LiveSandbox> {
    // A caller that checked visibility just now passes the record: one store read less per exec.
    const record = visible ?? (await this.#visible(caller, id));
    const current = this.#live.get(id);
    if (current && !current.client.alive) {
      // A dropped connection (a Kubernetes exec stream) may be reopened: a fresh agent, the same workspace.
      current.client = await current.instance.connect().catch(() => current.client);
    }
    if (current && current.client.alive) {
      current.lastActive = this.#now().getTime();
      return current;
    }
    if (record.status === 'terminated' || record.status === 'error') {
      throw new SandboxError(
        'sandbox_terminated',
        `sandbox ${id} is ${record.status}${record.error ? `: ${record.error}` : ''}`,
      );
    }
    // Live on another replica that this call could not be forwarded to: sandbox_unavailable.
    if (this.#o.replica) await ownerUrl(record, this.#o.replica, true);
    const live = await this.#locked(id, () => this.#resume(id));
    live.lastActive = this.#now().getTime();
    return live;
  }

  async resume(caller: Caller, id: string): Promise<SandboxView> {
    await this.#ready(caller, id);
    return this.get(caller, id);
  }

  async #resume(id: string): Promise<LiveSandbox> {
    const existing = this.#live.get(id);
    if (existing?.client.alive) return existing;
    let record = (await this.#o.store.getSandbox(id)) as SandboxRecord;
    if (this.#o.replica && isLiveStatus(record) && (await ownerUrl(record, this.#o.replica, true)) === null) {
      // Its owner is gone (or was this replica's previous process): take it over.
      const why = `its replica ${record.owner ?? '?'} is gone`;
      record = (await takeOver(this.#o.store, record, why, this.#now().toISOString())) ?? record;
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
    const claim = { status: 'starting' as const, owner: this.#me };
    if (!(await this.#o.store.updateSandbox(id, ['hibernated'], claim, record.owner))) {
      throw new SandboxError('sandbox_unavailable', `sandbox ${id} is being resumed elsewhere; retry`);
    }
    try {
      const live = await this.#restore(record);
      await this.#o.store.updateSandbox(id, ['starting'], {
        status: 'ready',
        lastActiveAt: this.#now().toISOString(),
      });
      return live;
    } catch (error) {
      await this.#o.store.updateSandbox(id, ['starting'], { status: 'hibernated', owner: null });
      throw error;
    }
  }

  /** A new instance of a hibernated sandbox: its checkpoint (processes too) or its workspace archive. */
  async #restore(record: SandboxRecord): Promise<LiveSandbox> {
    const id = record.id;
    const spec = this.#spec(record, []);
    const restored = await resumeFromCheckpoint(this.#o.runtime, spec, this.#o.objects, this.#o.log);
    if (restored) return this.#adopt(id, restored);
    const tar = await this.#o.objects.get(record.snapshotKey!);
    if (!tar) throw new SandboxError('sandbox_unavailable', `the snapshot of sandbox ${id} is missing`);
    const instance = await this.#o.runtime.create(spec);
    try {
      const live = await this.#adopt(id, instance);
      await live.client.restore(tar);
      return live;
    } catch (error) {
      this.#live.delete(id);
      await instance.destroy();
      throw agentFailure(error, null);
    }
  }

  async hibernate(caller: Caller, id: string): Promise<SandboxView> {
    const record = await this.#visible(caller, id);
    if (record.status === 'terminated' || record.status === 'error') {
      throw new SandboxError('sandbox_terminated', `sandbox ${id} is ${record.status}`);
    }
    await this.#locked(id, () => this.#hibernate(id));
    return this.get(caller, id);
  }

  /** Archives the workspace to the object store, then frees the instance. */
  async #hibernate(id: string): Promise<void> {
    const live = this.#live.get(id);
    if (!live) return;
    await dropCheckpoint(this.#o.objects, id);
    const chunks: Buffer[] = [];
    await live.client.archive((chunk) => chunks.push(chunk));
    const tar = Buffer.concat(chunks);
    const key = SNAPSHOT_KEY(id);
    await putRetried(
      this.#o.objects,
      key,
      tar,
      { contentType: 'application/x-tar' },
      DEFAULT_OBJECT_RETRY,
      (e, n) =>
        this.#o.log.warn(
          `storing the snapshot of sandbox ${id} failed (attempt ${n}); retrying: ${String(e)}`,
        ),
    );
    for (const pty of live.ptys.values())
      pty.close({ code: null, signal: null, reason: 'the sandbox hibernated' });
    // gVisor: the processes too (the archive above is the fallback); the instance is stopped then.
    await saveCheckpoint(live.instance, this.#o.objects, id, this.#o.log);
    this.#live.delete(id);
    const at = this.#now().toISOString();
    await this.#o.store.updateSandbox(id, ['ready'], {
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
      .catch((e: unknown) => this.#o.log.warn(`cannot destroy sandbox ${id}: ${String(e)}`));
  }

  async terminate(caller: Caller, id: string): Promise<SandboxView> {
    await this.#visible(caller, id);
    await this.#locked(id, () => this.#terminate(id));
    return this.get(caller, id);
  }

  async #terminate(id: string): Promise<void> {
    const live = this.#live.get(id);
    this.#live.delete(id);
    for (const pty of live?.ptys.values() ?? [])
      pty.close({ code: null, signal: null, reason: 'the sandbox was deleted' });
    await live?.instance.destroy();
    // Its execs ended with it; their last writes land before the sandbox reads as terminated.
    await Promise.all([...(live?.execs.values() ?? [])].map((capture) => capture.done));
    await this.#o.objects.delete(SNAPSHOT_KEY(id));
    await dropCheckpoint(this.#o.objects, id);
    await this.#o.store.updateSandbox(id, ['starting', 'ready', 'hibernated', 'error'], {
      status: 'terminated',
      terminatedAt: this.#now().toISOString(),
      snapshotKey: null,
    });
  }

  /** Forgets a local instance without touching the store (its record belongs to someone else now). */
  #drop(id: string, live: LiveSandbox, reason: string): void {
    this.#live.delete(id);
    for (const pty of live.ptys.values()) pty.close({ code: null, signal: null, reason });
    void live.instance
      .destroy()
      .catch((e: unknown) => this.#o.log.warn(`cannot destroy sandbox ${id}: ${String(e)}`));
  }

  /** Hibernates idle sandboxes (no exec running, no PTY viewer) and terminates expired ones. */
  async sweep(): Promise<void> {
    const now = this.#now().getTime();
    for (const [id, live] of [...this.#live]) {
      const record = await this.#o.store.getSandbox(id);
      if (!record) continue;
      if (this.#o.replica && (!isLiveStatus(record) || record.owner !== this.#me)) {
        // Another replica took it over (this one's lease lapsed): this instance must not run on beside it.
        this.#drop(id, live, 'the sandbox was taken over by another replica');
        continue;
      }
      const expired =
        record.maxLifetimeSeconds !== null &&
        now - Date.parse(record.createdAt) > record.maxLifetimeSeconds * 1000;
      if (expired) {
        await this.#locked(id, () => this.#terminate(id)).catch(() => undefined);
        continue;
      }
      const busy =
        [...live.execs.values()].some((e) => !e.ended) || [...live.ptys.values()].some((p) => p.viewers > 0);
      if (busy) live.lastActive = now;
      else if (now - live.lastActive > record.idleTimeoutSeconds * 1000) {
        await this.#locked(id, () => this.#hibernate(id)).catch((e: unknown) =>
          this.#o.log.warn(`cannot hibernate idle sandbox ${id}: ${String(e)}`),
        );
      }
    }
  }

  // Execs ------------------------------------------------------------------------------------------------

  async exec(caller: Caller, id: string, request: ExecRequest, idempotencyKey?: string): Promise<ExecHandle> {
    const record = await this.#visible(caller, id);
    const execId = randomUUID();
    if (idempotencyKey !== undefined) {
      const fp = fingerprint(request);
      const earlier = await this.#o.store.claimKey(
        `${caller.scope}|sandbox:${id}`,
        idempotencyKey,
        fp,
        execId,
      );
      if (earlier) {
        if (earlier.fingerprint !== fp) {
          throw new CrucibleError(
            'idempotency_conflict',
            `Idempotency-Key "${idempotencyKey}" was already used for a different exec; use a new key`,
            'idempotency-key',
          );
        }
        return this.execHandle(caller, id, earlier.targetId);
      }
    }
    const live = await this.#ready(caller, id, record);
    return runExec(live, this.#o.store, execId, id, request, this.#now);
  }

  /** The exec as a handle to follow, whether it still runs here or only its stored output is left. */
  async execHandle(caller: Caller, id: string, execId: string): Promise<ExecHandle> {
    await this.#visible(caller, id);
    const capture = this.#live.get(id)?.execs.get(execId);
    if (capture) return { id: execId, follow: (after, signal) => capture.follow(after, signal), capture };
    const exec = await this.#o.store.getExec(execId);
    if (!exec || exec.sandboxId !== id)
      throw new CrucibleError('not_found', `no exec with id "${execId}"`, 'execId');
    return { id: execId, follow: (after) => followStoredExec(this.#o.store, exec, after), capture: null };
  }

  followExec(caller: Caller, id: string, execId: string, after: number): Promise<AsyncIterable<ExecEvent>> {
    return this.execHandle(caller, id, execId).then((h) => h.follow(after));
  }

  // Files ------------------------------------------------------------------------------------------------

  async readFile(caller: Caller, id: string, path: string): Promise<Buffer> {
    const live = await this.#ready(caller, id);
    return live.client.readFile(path).catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async writeFile(caller: Caller, id: string, path: string, content: Buffer): Promise<void> {
    const live = await this.#ready(caller, id);
    await live.client.writeFile(path, content).catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async deleteFile(caller: Caller, id: string, path: string, recursive: boolean): Promise<void> {
    const live = await this.#ready(caller, id);
    await live.client
      .deletePath(path, recursive)
      .catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async listFiles(caller: Caller, id: string, path: string) {
    const live = await this.#ready(caller, id);
    return live.client.list(path).catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async globFiles(caller: Caller, id: string, path: string, pattern: string) {
    const live = await this.#ready(caller, id);
    return live.client.glob(path, pattern).catch((e: unknown) => Promise.reject(agentFailure(e, 'glob')));
  }

  async grepFiles(caller: Caller, id: string, path: string, pattern: string, glob?: string) {
    const live = await this.#ready(caller, id);
    return live.client
      .grep(path, pattern, glob === undefined ? {} : { glob })
      .catch((e: unknown) => Promise.reject(agentFailure(e, 'grep')));
  }

  // PTY --------------------------------------------------------------------------------------------------

  /** Attaches a viewer to the sandbox's PTY session `name`, opening its shell first when none runs. */
  async attachPty(
    caller: Caller,
    id: string,
    name: string,
    size: { cols: number; rows: number },
    viewer: PtyViewer,
  ): Promise<{ session: PtySession; detach: () => void }> {
    const live = await this.#ready(caller, id);
    let session = live.ptys.get(name);
    if (!session) {
      session = await PtySession.open(name, live.client, size, {}, () => live.ptys.delete(name));
      live.ptys.set(name, session);
    } else {
      session.resize(size.cols, size.rows);
    }
    const detach = session.attach(viewer);
    return {
      session,
      detach: () => {
        detach();
        live.lastActive = this.#now().getTime();
      },
    };
  }
}

/** Agent errors as API errors naming `field`; anything else as it is. */
function agentFailure(error: unknown, field: string | null): unknown {
  if (error instanceof AgentError) {
    if (error.code === 'sandbox_unavailable') return new SandboxError('sandbox_unavailable', error.message);
    return fromAgentCode(error.code, error.message, field);
  }
  return error;
}

function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
