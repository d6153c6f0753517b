import { randomUUID } from 'node:crypto';
import { CrucibleError, findLanguage } from '../core/index.js';
import type { SandboxRecord, SandboxStatus } from '../store/store.js';
import type { Caller } from './caller.js';
import { runExec, followStoredExec, type ExecHandle } from './sandboxes-execs.js';
import { ownerUrl } from './sandboxes-replicas.js';
import { PtySession, type PtyViewer } from './sandboxes-pty.js';
import type { ExecEvent, ExecRequest, NewSandbox, SandboxView } from './sandboxes-types.js';
import { agentFailure, DEFAULTS, SandboxLifecycle } from './sandboxes-lifecycle.js';

export type { LiveSandbox, SandboxServiceOptions } from './sandboxes-lifecycle.js';

const HOLDING: readonly SandboxStatus[] = ['starting', 'ready', 'hibernated'];

/**
 * Interactive sandboxes (docs/sandboxes.md): their lifecycle — create, hibernate when idle, resume on the
 * next call, terminate —, and every call made in them, executed by the agent inside. A sandbox belongs to its
 * creator (others get 404) and counts against their quota. Its record, execs and exec output are in the store,
 * so output replays after a disconnect and after the sandbox is gone; its workspace snapshot is in the object
 * store under `sandboxes/<id>/workspace.tar`.
 */
export class SandboxService extends SandboxLifecycle {
  /** Tells the other replicas where to forward calls on the sandboxes live here (once listening). */
  async advertise(url: string): Promise<void> {
    if (this.opts.replica) await this.opts.replica.directory.advertiseReplica(this.opts.replica.id, url);
  }

  /**
   * The URL of the live replica that must serve calls on sandbox `id`, or null to serve them here (the API
   * forwards; a call that was forwarded already is never forwarded again).
   */
  async ownerUrl(id: string, forwarded: boolean): Promise<string | null> {
    if (!this.opts.replica || forwarded || this.liveSandboxes.has(id)) return null;
    const record = await this.opts.store.getSandbox(id);
    return record ? ownerUrl(record, this.opts.replica, false) : null;
  }

  async create(caller: Caller, input: NewSandbox, idempotencyKey?: string): Promise<SandboxView> {
    const language = input.language ?? 'python';
    if (!findLanguage(language)) {
      throw new CrucibleError('unknown_language', `unknown language "${language}"`, 'language');
    }
    if (input.project !== undefined && !(await this.opts.projects?.getProject(input.project))) {
      throw new CrucibleError('invalid_request', `no project with id "${input.project}"`, 'project');
    }
    const id = randomUUID();
    if (idempotencyKey !== undefined) {
      const earlier = await this.opts.store.claimKey(
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
        await this.opts.store.releaseKey(`${caller.scope}|sandboxes`, idempotencyKey);
      throw error;
    }
    const now = this.now().toISOString();
    const record: SandboxRecord = {
      id,
      user: caller.user,
      project: input.project ?? null,
      language,
      status: 'starting',
      owner: this.me,
      memoryMb: input.memoryMb ?? DEFAULTS.memoryMb,
      workspaceMb: input.workspaceMb ?? DEFAULTS.workspaceMb,
      idleTimeoutSeconds: input.idleTimeoutSeconds ?? DEFAULTS.idleTimeoutSeconds,
      maxLifetimeSeconds: input.maxLifetimeSeconds ?? null,
      labels: input.labels ?? {},
      env: input.env ?? {},
      runtime: this.opts.runtime.name,
      snapshotKey: null,
      snapshotBytes: null,
      error: null,
      createdAt: now,
      lastActiveAt: now,
      hibernatedAt: null,
      terminatedAt: null,
    };
    await this.opts.store.insertSandbox(record);
    const files = (input.files ?? []).map((f) => ({
      path: f.path,
      content: Buffer.from(f.content, f.encoding === 'base64' ? 'base64' : 'utf8'),
      ...(f.mode === undefined ? {} : { mode: f.mode }),
    }));
    try {
      await this.locked(id, () => this.startInstance(record, files));
    } catch (error) {
      await this.opts.store.updateSandbox(id, ['starting'], { status: 'error', error: String(error) });
      throw agentFailure(error, 'files');
    }
    return this.view((await this.opts.store.getSandbox(id)) as SandboxRecord);
  }

  async #repeat(caller: Caller, earlier: { fingerprint: string; targetId: string }, key: string, fp: string) {
    if (earlier.fingerprint !== fp) {
      throw new CrucibleError(
        'idempotency_conflict',
        `Idempotency-Key "${key}" was already used for a different request; use a new key`,
        'idempotency-key',
      );
    }
    return this.view(await this.visible(caller, earlier.targetId));
  }

  /** @throws CrucibleError quota_exceeded when the user holds their limit of sandboxes */
  async #admit(caller: Caller): Promise<void> {
    if (caller.user === null) return;
    const limit = caller.token?.maxRunning ?? this.opts.maxSandboxesPerUser ?? 10;
    const held = await this.opts.store.countSandboxes(caller.user, HOLDING);
    if (held >= limit) {
      throw new CrucibleError(
        'quota_exceeded',
        `user "${caller.user}" holds ${held} sandboxes, the limit (${caller.token?.maxRunning != null ? 'maxRunning of their token' : 'maxSandboxesPerUser'} = ${limit}); delete one first`,
        null,
      );
    }
  }

  async list(caller: Caller, status?: SandboxStatus): Promise<SandboxView[]> {
    const records = await this.opts.store.listSandboxes({
      ...(caller.admin ? {} : { user: caller.user ?? '\0' }),
      ...(status ? { status } : {}),
      limit: 1000,
    });
    return records.map((r) => this.view(r));
  }

  // Execs ------------------------------------------------------------------------------------------------

  async exec(caller: Caller, id: string, request: ExecRequest, idempotencyKey?: string): Promise<ExecHandle> {
    const record = await this.visible(caller, id);
    const execId = randomUUID();
    if (idempotencyKey !== undefined) {
      const fp = fingerprint(request);
      const earlier = await this.opts.store.claimKey(
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
    const live = await this.ready(caller, id, record);
    return runExec(live, this.opts.store, execId, id, request, this.now);
  }

  /** The exec as a handle to follow, whether it still runs here or only its stored output is left. */
  async execHandle(caller: Caller, id: string, execId: string): Promise<ExecHandle> {
    await this.visible(caller, id);
    const capture = this.liveSandboxes.get(id)?.execs.get(execId);
    if (capture) return { id: execId, follow: (after, signal) => capture.follow(after, signal), capture };
    const exec = await this.opts.store.getExec(execId);
    if (!exec || exec.sandboxId !== id)
      throw new CrucibleError('not_found', `no exec with id "${execId}"`, 'execId');
    return { id: execId, follow: (after) => followStoredExec(this.opts.store, exec, after), capture: null };
  }

  followExec(caller: Caller, id: string, execId: string, after: number): Promise<AsyncIterable<ExecEvent>> {
    return this.execHandle(caller, id, execId).then((h) => h.follow(after));
  }

  // Files ------------------------------------------------------------------------------------------------

  async readFile(caller: Caller, id: string, path: string): Promise<Buffer> {
    const live = await this.ready(caller, id);
    return live.client.readFile(path).catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async writeFile(caller: Caller, id: string, path: string, content: Buffer): Promise<void> {
    const live = await this.ready(caller, id);
    await live.client.writeFile(path, content).catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async deleteFile(caller: Caller, id: string, path: string, recursive: boolean): Promise<void> {
    const live = await this.ready(caller, id);
    await live.client
      .deletePath(path, recursive)
      .catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async listFiles(caller: Caller, id: string, path: string) {
    const live = await this.ready(caller, id);
    return live.client.list(path).catch((e: unknown) => Promise.reject(agentFailure(e, 'path')));
  }

  async globFiles(caller: Caller, id: string, path: string, pattern: string) {
    const live = await this.ready(caller, id);
    return live.client.glob(path, pattern).catch((e: unknown) => Promise.reject(agentFailure(e, 'glob')));
  }

  async grepFiles(caller: Caller, id: string, path: string, pattern: string, glob?: string) {
    const live = await this.ready(caller, id);
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
    const live = await this.ready(caller, id);
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
        live.lastActive = this.now().getTime();
      },
    };
  }
}

function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
