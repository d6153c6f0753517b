import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Isolation, type Sandbox } from '../../src/runtime/local/index.js';
import { run } from './sandbox-helpers.js';

/** Host processes whose command line contains `marker`. */
export function hostProcesses(marker: string): { pid: number; uid: number }[] {
  const found: { pid: number; uid: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!cmdline.includes(marker)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      found.push({ pid: Number(entry), uid });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function waitFor<T>(probe: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The behaviour every isolating backend must show; hostile programs, one point each. */
export function sandboxSuite(isolation: Isolation): void {
  describe(`sandbox: ${isolation}`, () => {
    let sandbox: Sandbox;
    let server: Server;
    let port = 0;
    const warnings: string[] = [];

    beforeAll(async () => {
      sandbox = await createSandbox({
        isolation,
        stateDir: `/tmp/crucible-test-${process.pid}`,
        warn: (m) => warnings.push(m),
      });
      server = createServer((socket) => socket.end('secret\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await sandbox?.close();
      server?.close();
      rmSync(`/tmp/crucible-test-${process.pid}`, { recursive: true, force: true });
    });

    test('keeps stdout and stderr apart and reports the exit code, cpu time and peak memory', async () => {
      const r = await run(
        sandbox,
        'python',
        'import sys\nprint("out")\nprint("err", file=sys.stderr)\nsys.exit(3)',
      );
      expect(r.stdout).toBe('out\n');
      expect(r.stderr).toBe('err\n');
      expect(r.exit).toMatchObject({
        exitCode: 3,
        signal: null,
        timedOut: false,
        oomKilled: false,
        killed: false,
      });
      expect(r.exit.memoryEnforcement).toBe('cgroup');
      expect(r.exit.cpuTimeMs).toBeGreaterThan(0);
      expect(r.exit.peakMemoryBytes).toBeGreaterThan(1024 * 1024);
    });

    test.each([
      ['python', 'print("hi from python")', 'hi from python\n'],
      ['javascript', 'console.log("hi from " + "node")', 'hi from node\n'],
      ['bash', 'echo "hi from $0"', 'hi from /code/main.sh\n'],
    ] as const)('runs %s', async (language, code, expected) => {
      const r = await run(sandbox, language, code);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(expected);
      expect(r.exit.exitCode).toBe(0);
    });

    test('reports death by signal as the signal, not 128+N', async () => {
      const kill = await run(sandbox, 'bash', 'kill -9 $$');
      expect(kill.exit).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
      const segv = await run(sandbox, 'python', 'import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)');
      expect(segv.exit).toMatchObject({ exitCode: null, signal: 'SIGSEGV' });
    });

    test('feeds stdin, and survives a program that never reads it', async () => {
      const r = await run(sandbox, 'python', 'import sys\nprint(sys.stdin.read().upper())', { stdin: 'abc' });
      expect(r.stdout).toBe('ABC\n');
      const ignored = await run(sandbox, 'bash', 'exit 0', { stdin: 'x'.repeat(1024 * 1024) });
      expect(ignored.exit.exitCode).toBe(0);
    });

    test('kills a program at its timeout', async () => {
      const started = Date.now();
      const r = await run(sandbox, 'python', 'while True: pass', { limits: { timeoutSeconds: 1 } });
      expect(r.exit.timedOut).toBe(true);
      expect(r.exit.signal).toBe('SIGKILL');
      expect(Date.now() - started).toBeLessThan(3000);
    });

    test('stops a memory bomb with the cgroup limit', async () => {
      const r = await run(sandbox, 'python', 'x = b"a" * (400 << 20)\nprint("survived")', {
        limits: { memoryMb: 64 },
      });
      expect(r.stdout).toBe('');
      expect(r.exit.oomKilled).toBe(true);
    });

    test('contains a fork bomb and leaves the host responsive', async () => {
      const r = await run(
        sandbox,
        'python',
        'import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            import time; time.sleep(30)\n        n += 1\nexcept OSError as e:\n    print("stopped", n < 64, flush=True)\n    os._exit(0)',
        { limits: { maxProcesses: 16, timeoutSeconds: 5 } },
      );
      expect(r.stdout).toBe('stopped True\n');
      expect(r.exit.timedOut).toBe(false);
      const after = await run(sandbox, 'python', 'print(1)');
      expect(after.stdout).toBe('1\n');
    });

    test('streams output before the program ends, and kill() ends it', async () => {
      const marker = `${Math.floor(Math.random() * 1e6)}`;
      let resolveFirst: (chunk: string) => void = () => undefined;
      const first = new Promise<string>((resolve) => (resolveFirst = resolve));
      const handle = await sandbox.launch(
        {
          argv: ['bash', '/code/main.sh'],
          files: [{ path: '/code/main.sh', content: `echo ready\nexec sleep 77.${marker}` }],
          stdin: '',
          limits: {
            timeoutSeconds: 20,
            memoryMb: 256,
            maxProcesses: 16,
            maxOutputBytes: 1 << 20,
            tmpSizeMb: 8,
          },
        },
        (_stream, data) => resolveFirst(data.toString()),
      );
      expect(await first).toBe('ready\n');
      if (isolation === 'bwrap') {
        // Runs as the unprivileged host user, not as a mapped root. (gVisor's processes live inside its sentry.)
        const procs = await waitFor(() => {
          const found = hostProcesses(`77.${marker}`);
          return found.length > 0 ? found : undefined;
        });
        expect(procs.every((p) => p.uid === 65534)).toBe(true);
      }
      await handle.kill();
      const exit = await handle.exited;
      expect(exit).toMatchObject({ killed: true, timedOut: false });
      expect(hostProcesses(`77.${marker}`)).toEqual([]);
    });

    test('leaves no daemon behind (setsid, double fork)', async () => {
      const marker = `${Math.floor(Math.random() * 1e6)}`;
      const r = await run(
        sandbox,
        'bash',
        `setsid sleep 1000.${marker} </dev/null >/dev/null 2>&1 &\n( ( sleep 1001.${marker} & ) & )\nnohup sleep 1002.${marker} >/dev/null 2>&1 &\necho spawned`,
      );
      expect(r.stdout).toBe('spawned\n');
      expect(hostProcesses(`.${marker}`)).toEqual([]);
    });

    test('runs as uid 65534 without groups, in an empty environment', async () => {
      const r = await run(
        sandbox,
        'python',
        'import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), sorted(set(os.environ) - {"PWD"}))',
      );
      expect(r.stdout).toBe("65534 65534 65534 [] ['HOME', 'LANG', 'PATH']\n");
    });

    // gVisor's wrapper does not renice (yet): only bwrap's gate does.
    test.runIf(isolation === 'bwrap')('runs at nice 10, and cannot lower it', async () => {
      const r = await run(
        sandbox,
        'python',
        'import os\nprint(os.nice(0))\ntry:\n    os.nice(-1)\n    print("lowered")\nexcept PermissionError:\n    print("refused")',
      );
      expect(r.stdout).toBe('10\nrefused\n');
    });

    test('has no network: the host loopback is unreachable', async () => {
      const r = await run(
        sandbox,
        'python',
        `import socket\ntry:\n    socket.create_connection(("127.0.0.1", ${port}), timeout=2).recv(10)\n    print("connected")\nexcept OSError:\n    print("blocked")`,
      );
      expect(r.stdout).toBe('blocked\n');
    });

    test('hides the host filesystem', async () => {
      const r = await run(
        sandbox,
        'python',
        'import os\nprint([p for p in ["/root", "/work", "/home", "/etc/shadow", "/var", "/usr/local/bin/docker", "/tmp/crucible-test-' +
          process.pid +
          '"] if os.path.exists(p)])',
      );
      expect(r.stdout).toBe('[]\n');
    });

    test('allows /tmp writes up to the tmp limit, and nothing elsewhere', async () => {
      const r = await run(
        sandbox,
        'python',
        [
          'open("/tmp/small", "wb").write(b"x" * (1 << 20))',
          'try:\n    open("/tmp/big", "wb").write(b"x" * (8 << 20))\n    print("big written")\nexcept OSError as e:\n    print("big refused")',
          'for p in ["/code/main.py", "/code/x", "/usr/x", "/x", "/etc/passwd", "/dev/x", "/proc/x"]:\n    try:\n        open(p, "w")\n        print("wrote", p)\n    except OSError:\n        pass',
        ].join('\n'),
        { limits: { tmpSizeMb: 4 } },
      );
      expect(r.stdout).toBe('big refused\n');
      const shm = await run(
        sandbox,
        'python',
        'import multiprocessing\nprint(multiprocessing.Lock() is not None)',
      );
      expect(shm.stdout).toBe('True\n');
    });
  });
}
