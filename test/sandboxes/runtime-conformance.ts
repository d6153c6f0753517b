import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import type { AgentClient } from '../../src/runtime/sandbox/agent-client.js';
import type {
  SandboxInstance,
  SandboxInstanceSpec,
  SandboxRuntime,
} from '../../src/runtime/sandbox/sandbox-runtime.js';

export const TEST_LIMITS = { memoryMb: 256, maxProcesses: 64, workspaceMb: 64, tmpSizeMb: 16, cpus: null };

export function sandboxSpec(id: string, overrides: Partial<SandboxInstanceSpec> = {}): SandboxInstanceSpec {
  return {
    sandboxId: id,
    language: 'python',
    limits: TEST_LIMITS,
    env: { GREETING: 'hello' },
    files: [{ path: 'seed/hello.txt', content: Buffer.from('seeded\n') }],
    labels: {},
    ...overrides,
  };
}

async function run(client: AgentClient, argv: string[], stdin?: Buffer) {
  const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  const exit = await client.exec({ argv, timeoutMs: 10_000, ...(stdin ? { stdin } : {}) }, (s, d) =>
    out[s].push(d),
  );
  return { exit, stdout: Buffer.concat(out.stdout).toString(), stderr: Buffer.concat(out.stderr).toString() };
}

/** Waits until `read()` contains `text` (PTY output arrives in pieces). */
export async function outputContaining(
  read: () => string,
  text: string,
  onData: (cb: () => void) => void,
): Promise<void> {
  if (read().includes(text)) return;
  await new Promise<void>((resolve) => onData(() => read().includes(text) && resolve()));
}

/** An interactive bash on the agent's PTY, its screen collected, and a wait for text to show up on it. */
export async function openScreen(client: AgentClient, size = { cols: 80, rows: 24 }) {
  let screen = '';
  const waiters: Array<() => void> = [];
  const pty = await client.openPty({ argv: ['/bin/bash', '--norc', '-i'], ...size }, (d) => {
    screen += d.toString();
    waiters.forEach((w) => w());
  });
  const until = (text: string) =>
    outputContaining(
      () => screen,
      text,
      (cb) => waiters.push(cb),
    );
  return { pty, screen: () => screen, until };
}

/**
 * Drives any SandboxRuntime through what the service relies on: create with env and files, exec (stdin,
 * usage, timeout), files and their refusals, a PTY (type, resize, Ctrl-C), archive and restore.
 */
export function describeSandboxRuntime(
  name: string,
  make: () => Promise<SandboxRuntime>,
  skip: string | null,
): void {
  describe.skipIf(skip !== null)(`${name} sandbox runtime${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let runtime: SandboxRuntime;
    let instance: SandboxInstance;
    let client: AgentClient;
    beforeAll(async () => {
      runtime = await make();
      instance = await runtime.create(sandboxSpec('conformance-1'));
      client = await instance.connect();
    }, 60_000);
    afterAll(async () => {
      await instance?.destroy();
      await runtime?.close();
    });

    it('runs commands with the spec env, stdin and per-exec usage, in /workspace as the sandbox user', async () => {
      const r = await run(
        client,
        ['/bin/sh', '-c', 'echo $GREETING; pwd; id -u; cat; echo err >&2'],
        Buffer.from('in\n'),
      );
      expect(r.stdout).toBe('hello\n/workspace\n65534\nin\n');
      expect(r.stderr).toBe('err\n');
      expect(r.exit).toMatchObject({ code: 0, signal: null, timedOut: false, oomKilled: false });
      expect(r.exit.wallMs).toBeGreaterThan(0);
      const py = await run(client, ['python3', '-c', 'x = bytearray(64 << 20); print(len(x))']);
      expect(py.stdout).toBe(`${64 << 20}\n`);
      expect(py.exit.peakMemoryBytes).toBeGreaterThan(64 << 20);
      expect(py.exit.cpuMs).toBeGreaterThan(0);
    });

    it('ends an exec at its timeout and reports a missing program as 127', async () => {
      const exit = await client.exec({ argv: ['sleep', '30'], timeoutMs: 200 }, () => undefined);
      expect(exit).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
      const missing = await run(client, ['no-such-program']);
      expect(missing.exit.code).toBe(127);
    });

    it('reads, writes, lists, globs and greps the workspace, initial files included', async () => {
      expect((await client.readFile('seed/hello.txt')).toString()).toBe('seeded\n');
      await client.writeFile('src/a.py', Buffer.from('# TODO one\nprint(1)\n'), 0o755);
      await client.writeFile('/workspace/src/deep/b.py', Buffer.from('TODO two\n'));
      expect(await client.list('src')).toEqual([
        { name: 'a.py', type: 'file', size: 20, mode: 0o755 },
        { name: 'deep', type: 'dir', size: 0, mode: 0o755 },
      ]);
      expect((await client.glob('', '**/*.py')).paths).toEqual(['src/a.py', 'src/deep/b.py']);
      const grep = await client.grep('', 'TODO', { glob: '*.py' });
      expect(grep.matches.map((m) => `${m.path}:${m.line}`)).toEqual(['src/a.py:1', 'src/deep/b.py:1']);
      await client.deletePath('src', true);
      await expect(client.readFile('src/a.py')).rejects.toMatchObject({ code: 'not_found' });
    });

    it('refuses traversal, absolute paths, symlinks pointing out and devices', async () => {
      await run(client, [
        '/bin/sh',
        '-c',
        'ln -s /etc out; ln -s ../.. up; ln -s /dev/zero zero; mkfifo fifo',
      ]);
      for (const path of ['../etc/passwd', '/etc/passwd', 'out/passwd', 'up/x', 'zero']) {
        await expect(client.readFile(path), path).rejects.toMatchObject({ code: 'path_outside_workspace' });
        await expect(client.writeFile(path, Buffer.from('x')), path).rejects.toMatchObject({
          code: 'path_outside_workspace',
        });
      }
      await expect(client.readFile('fifo')).rejects.toMatchObject({ code: 'not_a_regular_file' });
      await expect(client.writeFile('out', Buffer.from('x'))).rejects.toMatchObject({
        code: 'path_outside_workspace',
      });
      await client.deletePath('out');
      expect((await client.list('')).find((e) => e.name === 'out')).toBeUndefined();
    });

    it('runs a PTY: typed commands, resize, Ctrl-C reaching the foreground program', async () => {
      const { pty, screen, until } = await openScreen(client);
      pty.input(Buffer.from('echo $((6*7))\n'));
      await until('42');
      pty.resize(120, 40);
      pty.input(Buffer.from('stty size\n'));
      await until('40 120');
      await ctrlCReachesTheForeground(pty, until, screen);
      pty.input(Buffer.from('exit 3\n'));
      expect(await pty.exited).toEqual({ code: 3, signal: null });
    });

    it('archives the workspace and restores it byte for byte into a fresh sandbox', async () => {
      await run(client, [
        '/bin/sh',
        '-c',
        'mkdir -p keep/empty && printf "x" > keep/f && chmod 0640 keep/f && ln -sf f keep/link && head -c 300000 /dev/urandom > keep/rand',
      ]);
      const chunks: Buffer[] = [];
      await client.archive((c) => chunks.push(c));
      const tar = Buffer.concat(chunks);
      const other = await runtime.create(sandboxSpec('conformance-2', { files: [] }));
      try {
        const otherClient = await other.connect();
        await otherClient.restore(tar);
        const again: Buffer[] = [];
        await otherClient.archive((c) => again.push(c));
        expect(Buffer.concat(again).equals(tar)).toBe(true);
        const ls = await run(otherClient, [
          '/bin/sh',
          '-c',
          // Python's lstat rather than coreutils' stat: gVisor 20221219 refuses the statx flags stat 9.1 uses.
          `python3 -c 'import os, stat\nfor p in ["keep", "keep/empty", "keep/f", "keep/link"]:\n  s = os.lstat(p); print(p, oct(s.st_mode & 0o777)[2:], "symlink" if stat.S_ISLNK(s.st_mode) else "dir" if stat.S_ISDIR(s.st_mode) else "file")'`,
        ]);
        expect(ls.stdout).toBe('keep 755 dir\nkeep/empty 755 dir\nkeep/f 640 file\nkeep/link 777 symlink\n');
      } finally {
        await other.destroy();
      }
    });
  });
}

/** Ctrl-C typed into the terminal interrupts the foreground program, and the shell lives on. */
async function ctrlCReachesTheForeground(
  pty: { input(data: Buffer): void },
  until: (text: string) => Promise<void>,
  screen: () => string,
): Promise<void> {
  // The program says when it runs (so it is the terminal's foreground process group) before Ctrl-C.
  pty.input(
    Buffer.from(
      `python3 -c 'import time; print("fore" + "ground", flush=True); time.sleep(30)' && echo slept\n`,
    ),
  );
  await until('foreground');
  pty.input(Buffer.from('\x03'));
  pty.input(Buffer.from('echo after-$((1+1))\n'));
  await until('after-2');
  expect(screen()).not.toMatch(/\nslept/);
}
