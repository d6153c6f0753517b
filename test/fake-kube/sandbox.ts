import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Limits } from '../../src/core/index.js';

/**
 * The local sandbox API (src/runtime/local/sandbox.ts, built by another engineer). The fake kubelet runs each
 * pod's command through it so output is real. Declared here so this file compiles before that module lands.
 */
export interface SandboxFile {
  readonly path: string;
  readonly content: string | Buffer;
}
export interface SandboxSpec {
  readonly argv: readonly string[];
  readonly files: readonly SandboxFile[];
  readonly stdin: string | Buffer;
  readonly limits: Limits;
}
export interface SandboxExit {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  oomKilled: boolean;
  killed: boolean;
  startedAt: Date;
  finishedAt: Date;
}
export interface SandboxHandle {
  readonly startedAt: Date;
  readonly exited: Promise<SandboxExit>;
  kill(): Promise<void>;
}
export interface Sandbox {
  readonly isolation: string;
  launch(
    spec: SandboxSpec,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<SandboxHandle>;
  close(): Promise<void>;
}

/**
 * Fallback used only when the real sandbox is missing or fails its smoke test: runs the command unisolated.
 * Absolute paths (files, and argv entries under the same top directories or /tmp) are re-rooted in a
 * private temporary directory so concurrent pods do not see each other's files.
 */
export function createPlainSandbox(): Sandbox {
  const dirs = new Set<string>();
  return {
    isolation: 'none',
    async launch(spec, onOutput) {
      const dir = await mkdtemp(join(tmpdir(), 'fake-kubelet-'));
      dirs.add(dir);
      const roots = new Set(['tmp', ...spec.files.map((f) => f.path.split('/')[1] ?? '')]);
      const reroot = (arg: string): string =>
        arg.startsWith('/') && roots.has(arg.split('/')[1] ?? '') ? join(dir, arg) : arg;
      for (const file of spec.files) {
        await mkdir(dirname(join(dir, file.path)), { recursive: true });
        await writeFile(join(dir, file.path), file.content);
      }
      const startedAt = new Date();
      const argv = spec.argv.map(reroot);
      if (argv[0] === 'node') argv[0] = process.execPath;
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: dir,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8' },
      });
      let killed = false;
      child.stdout.on('data', (d: Buffer) => onOutput('stdout', d));
      child.stderr.on('data', (d: Buffer) => onOutput('stderr', d));
      child.stdin.on('error', () => undefined);
      child.stdin.end(spec.stdin);
      const exited = new Promise<SandboxExit>((resolve) => {
        const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
          dirs.delete(dir);
          void rm(dir, { recursive: true, force: true });
          resolve({
            exitCode: code,
            signal,
            timedOut: false,
            oomKilled: false,
            killed,
            startedAt,
            finishedAt: new Date(),
          });
        };
        child.on('close', finish);
        child.on('error', () => finish(127, null));
      });
      return {
        startedAt,
        exited,
        async kill() {
          killed = true;
          try {
            if (child.pid) process.kill(-child.pid, 'SIGKILL');
          } catch {
            // Already gone: nothing to kill.
          }
          await exited;
        },
      };
    },
    async close() {
      await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

interface SandboxModule {
  createSandbox(options: {
    isolation: 'bwrap';
    stateDir: string;
    warn?: (m: string) => void;
  }): Promise<Sandbox>;
}

/**
 * The real bwrap sandbox when it is present and passes a smoke test (files at relative paths, host
 * interpreters), else the plain fallback. The module path is computed so this compiles before it exists.
 */
export async function loadSandbox(stateDir: string): Promise<Sandbox> {
  const modulePath = ['..', '..', 'src', 'runtime', 'local', 'sandbox.js'].join('/');
  try {
    const module = (await import(modulePath)) as SandboxModule;
    const sandbox = await module.createSandbox({ isolation: 'bwrap', stateDir, warn: () => undefined });
    const chunks: Buffer[] = [];
    const handle = await sandbox.launch(
      {
        argv: ['node', '/crucible/probe.mjs'],
        files: [{ path: '/crucible/probe.mjs', content: "process.stdout.write('ok')" }],
        stdin: '',
        limits: {
          timeoutSeconds: 10,
          memoryMb: 512,
          maxProcesses: 64,
          maxOutputBytes: 1 << 20,
          tmpSizeMb: 16,
        },
      },
      (_s, d) => chunks.push(d),
    );
    const exit = await handle.exited;
    if (exit.exitCode === 0 && Buffer.concat(chunks).toString() === 'ok') return sandbox;
    await sandbox.close();
  } catch {
    // Not landed yet or not usable here: fall back below.
  }
  return createPlainSandbox();
}
