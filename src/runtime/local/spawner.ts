import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { SANDBOX_NICE } from './gate.js';
import { signalName } from './signals.js';
import { killGroup, processAlive, type Launcher, type SpawnedProcess } from './spawned.js';
import { SPAWNER_SOURCE } from './spawner-source.js';

const PYTHON = '/usr/bin/python3';
/** Fixed inputs up to this size go through a pipe the helper fills; larger ones through a socket we feed. */
const PIPE_DATA_MAX = 16 * 1024;
/** bwrap reaches its gate in milliseconds; this only bounds a helper or bwrap that hangs. */
const LAUNCH_TIMEOUT_MS = 10_000;

const DIR_PREFIX = 'crucible-spawner-';

/** Removes the socket directories of servers that died without closing their spawner (a crash, SIGKILL). */
async function removeStaleDirs(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const entry of entries) {
    const owner = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(entry)?.[1];
    if (owner === undefined || processAlive(Number(owner))) continue;
    await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

type Reply = { id: number } & (
  { pid: number } | { gated: number | null } | { exit: number } | { error: string }
);

interface Pending {
  pid: number | null;
  onGated: (sandboxPid: number | null) => void;
  onError: (error: Error) => void;
  onExit: (status: [number | null, NodeJS.Signals | null]) => void;
}

/**
 * Launches gated bwrap plans through the spawner helper (spawner-source.ts) instead of forking the server.
 * The run's stdio and deferred inputs are unix-socket connections the helper makes to a socket in a private
 * (0700, root) directory, each introduced by a random token, so the server holds ordinary sockets as it
 * would hold the pipes of a child. If the helper dies, its running sandboxes are reported killed (their
 * cgroups are then killed as for any run) and later launches spawn directly.
 */
export class Spawner {
  readonly #helper: ChildProcessByStdio<Writable, Readable, null>;
  readonly #server: Server;
  readonly #dir: string;
  readonly #runs = new Map<number, Pending>();
  readonly #connections = new Map<string, (socket: Socket) => void>();
  #nextId = 0;
  #alive = true;

  private constructor(dir: string, server: Server, helper: ChildProcessByStdio<Writable, Readable, null>) {
    this.#dir = dir;
    this.#server = server;
    this.#helper = helper;
  }

  /** Starts the helper, or returns null (launches then fork the server) when python3 is not installed. */
  static async start(warn: (message: string) => void): Promise<Spawner | null> {
    if (!existsSync(PYTHON)) return null;
    await removeStaleDirs();
    // mkdtemp creates the directory 0700: no sandbox user can reach the socket in it.
    const dir = await mkdtemp(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(join(dir, 's'), resolve);
    });
    const helper = spawn(PYTHON, ['-I', '-S', '-c', SPAWNER_SOURCE, join(dir, 's')], {
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const spawner = new Spawner(dir, server, helper);
    server.on('connection', (socket) => spawner.#introduce(socket));
    createInterface({ input: helper.stdout }).on('line', (line) => spawner.#reply(JSON.parse(line) as Reply));
    helper.stdin.on('error', () => undefined);
    helper.on('exit', (code, signal) => {
      if (spawner.#alive)
        warn(`the sandbox spawner exited (${signal ?? code}); launching directly from now on`);
      spawner.#died();
    });
    return spawner;
  }

  get alive(): boolean {
    return this.#alive;
  }

  readonly launch: Launcher = async (plan) => {
    if (!plan.gate) throw new Error('the spawner launches gated bwrap plans only');
    const id = ++this.#nextId;
    const sockets: Promise<Socket>[] = [];
    const tokens: string[] = [];
    const socketSpec = (): ['socket', string] => {
      const token = randomBytes(16).toString('hex');
      tokens.push(token);
      sockets.push(new Promise((resolve) => this.#connections.set(token, resolve)));
      return ['socket', token];
    };
    const fds: unknown[] = [socketSpec(), socketSpec(), socketSpec()];
    const fedByUs: (string | Buffer | null)[] = [];
    for (const input of plan.extraInputs) {
      if (input !== null && Buffer.byteLength(input) <= PIPE_DATA_MAX) {
        fds.push(['data', Buffer.from(input).toString('base64')]);
      } else {
        fds.push(socketSpec());
        fedByUs.push(input);
      }
    }
    fds.push(['info']);
    const request = {
      id,
      argv: plan.argv,
      env: plan.env,
      fds,
      cgroups: plan.cgroups?.procsFiles ?? [],
      nice: SANDBOX_NICE,
    };
    try {
      return await this.#await(id, request, sockets, fedByUs);
    } catch (error) {
      for (const token of tokens) this.#connections.delete(token);
      throw error;
    }
  };

  /**
   * Mounts a tmpfs at `target` (nosuid, nodev, noexec; `options` as mount(8)'s `-o`), or detaches the one
   * there, by the syscalls in the helper: the per-run `/artifacts` would otherwise fork the server (or run
   * mount(8)) twice per evaluation.
   */
  async mountOp(op: 'mount' | 'umount', target: string, options = ''): Promise<void> {
    const id = ++this.#nextId;
    const done = new Promise<void>((resolve, reject) => {
      this.#runs.set(id, {
        pid: null,
        onGated: () => undefined,
        onError: (error) => {
          this.#runs.delete(id);
          reject(error);
        },
        onExit: () => {
          this.#runs.delete(id);
          resolve();
        },
      });
    });
    this.#helper.stdin.write(`${JSON.stringify({ id, op, target, options })}\n`);
    return done;
  }

  async close(): Promise<void> {
    this.#alive = false;
    this.#helper.stdin.end();
    if (this.#helper.exitCode === null && this.#helper.signalCode === null) {
      await new Promise((resolve) => this.#helper.once('exit', resolve));
    }
    this.#server.close();
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #await(
    id: number,
    request: object,
    sockets: Promise<Socket>[],
    fedByUs: (string | Buffer | null)[],
  ): Promise<SpawnedProcess> {
    let exited = false;
    let resolveExit: (status: [number | null, NodeJS.Signals | null]) => void = () => undefined;
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => (resolveExit = resolve));
    const pending: Pending = {
      pid: null,
      onGated: () => undefined,
      onError: () => undefined,
      onExit: (status) => {
        exited = true;
        this.#runs.delete(id);
        resolveExit(status);
      },
    };
    const gated = new Promise<number | null>((resolve, reject) => {
      pending.onGated = resolve;
      pending.onError = reject;
    });
    this.#runs.set(id, pending);
    this.#helper.stdin.write(`${JSON.stringify(request)}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no sandbox within ${LAUNCH_TIMEOUT_MS} ms`)),
        LAUNCH_TIMEOUT_MS,
      );
    });
    let connected: Socket[];
    try {
      [connected] = await Promise.race([Promise.all([Promise.all(sockets), gated]), timeout]);
    } catch (error) {
      if (pending.pid !== null) killGroup(pending.pid);
      void Promise.all(sockets).then((all) => all.forEach((s) => s.destroy()));
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const [stdin, stdout, stderr, ...ours] = connected as [Socket, Socket, Socket, ...Socket[]];
    const deferred: Writable[] = [];
    ours.forEach((socket, i) => {
      const content = fedByUs[i];
      if (content === null || content === undefined) deferred.push(socket);
      else socket.end(content);
    });
    const streamClosed = (s: Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));
    const closed = Promise.all([exit, streamClosed(stdout), streamClosed(stderr)]).then(() => undefined);
    for (const socket of connected) socket.on('error', () => undefined);
    return {
      pid: pending.pid ?? 0,
      stdin,
      stdout,
      stderr,
      deferred,
      get running() {
        return !exited;
      },
      exit,
      closed,
    };
  }

  #introduce(socket: Socket): void {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const newline = head.indexOf(0x0a);
      if (newline < 0) {
        if (head.length > 64) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const rest = head.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      const token = head.subarray(0, newline).toString();
      const deliver = this.#connections.get(token);
      this.#connections.delete(token);
      if (deliver) deliver(socket);
      else socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  }

  #reply(reply: Reply): void {
    const run = this.#runs.get(reply.id);
    if (!run) return;
    if ('pid' in reply) run.pid = reply.pid;
    else if ('gated' in reply) run.onGated(reply.gated);
    else if ('error' in reply) run.onError(new Error(reply.error));
    else if ('exit' in reply) {
      run.onExit(
        reply.exit >= 0
          ? [reply.exit, null]
          : [null, (signalName(-reply.exit) ?? 'SIGKILL') as NodeJS.Signals],
      );
    }
  }

  #died(): void {
    this.#alive = false;
    for (const run of [...this.#runs.values()]) {
      run.onError(new Error('the sandbox spawner exited'));
      // Its sandboxes may outlive it; the run's cgroups are killed once it reads as exited.
      if (run.pid !== null) killGroup(run.pid);
      run.onExit([null, 'SIGKILL']);
    }
  }
}
