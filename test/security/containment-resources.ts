import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import type { TestServer } from '../support/server.js';
import { evaluate, gvisorSandboxProcesses, hostProcesses, probe, rawRequest, vmRssKb } from './support.js';

/**
 * The resource half of the containment suite: programs that try to exhaust processes, memory, disk or the
 * server's memory, or to outlive their evaluation. Registered inside `containmentSuite`'s describe, against
 * its server.
 */
export function resourceContainmentTests(isolation: 'bwrap' | 'gvisor', current: () => TestServer): void {
  test('a fork bomb is stopped by the process limit while the host stays responsive', async () => {
    const server = current();
    const submitted = await server.client.submit({
      language: 'python',
      timeoutSeconds: 10,
      code: `import os, time
n = 0
try:
    while n < 100000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    print("unbounded", n, flush=True)
except OSError as e:
    print("stopped", n, e.errno, flush=True)
os._exit(0)`,
    });
    let worst = 0;
    for (let i = 0; i < 500; i++) {
      const t = Date.now();
      const health = await rawRequest(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      worst = Math.max(worst, Date.now() - t);
      const e = await server.client.get(submitted.id);
      if (['succeeded', 'failed', 'timed_out', 'error', 'cancelled'].includes(e.status)) break;
    }
    const done = await server.client.get(submitted.id, 30);
    expect(done.status).toBe('succeeded');
    const [word, count] = (done.result?.stdout ?? '').trim().split(' ');
    expect(word).toBe('stopped');
    expect(Number(count)).toBeLessThan(64);
    expect(worst).toBeLessThan(2000);
    const after = await evaluate(server, { language: 'bash', code: 'echo alive' });
    expect(after.result?.stdout).toBe('alive\n');
  });

  test('a memory bomb ends as failed with reason oom, and the host keeps answering', async () => {
    const server = current();
    const rssBefore = vmRssKb(server.process.pid!);
    const submitted = await server.client.submit({
      language: 'python',
      memoryMb: 64,
      timeoutSeconds: 20,
      code: 'chunks = []\nfor i in range(256):\n    chunks.append(bytearray(16 << 20))\nprint("survived")',
    });
    let worst = 0;
    for (let i = 0; i < 500; i++) {
      const t = Date.now();
      expect((await rawRequest(`${server.url}/healthz`)).status).toBe(200);
      worst = Math.max(worst, Date.now() - t);
      const e = await server.client.get(submitted.id);
      if (!['queued', 'starting', 'running'].includes(e.status)) break;
    }
    const done = await server.client.get(submitted.id, 30);
    expect(done.status).toBe('failed');
    expect(done.result?.reason).toBe('oom');
    expect(done.result?.stdout).toBe('');
    expect(worst).toBeLessThan(2000);
    expect(vmRssKb(server.process.pid!) - rssBefore).toBeLessThan(64 * 1024);
  });

  test('filling /tmp and /dev/shm stops at the cap', async () => {
    const server = current();
    const r = await probe<Record<string, { written: number; errno: string }>>(
      server,
      `import errno, json
out = {}
for path in ("/tmp/fill", "/dev/shm/fill"):
    written, err = 0, "none"
    block = b"x" * (1 << 20)
    try:
        with open(path, "wb", buffering=0) as f:
            for _ in range(1024):
                written += f.write(block)
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
    out[path] = {"written": written, "errno": err}
    import os
    os.remove(path)
print(json.dumps(out))`,
      { memoryMb: 512 },
    );
    // The default tmpSizeMb is 64.
    for (const p of ['/tmp/fill', '/dev/shm/fill']) {
      expect(r[p]?.errno, p).toBe('ENOSPC');
      expect(r[p]?.written, p).toBeLessThanOrEqual(64 << 20);
      expect(r[p]?.written, p).toBeGreaterThan(32 << 20);
    }
  });

  test('an output flood is truncated at the cap while server memory stays bounded', async () => {
    const server = current();
    const pid = server.process.pid!;
    // 128 MiB on each stream per run, far beyond the 1 MiB cap.
    const flood = {
      language: 'python',
      timeoutSeconds: 30,
      code: 'import os\nblock = b"x" * (1 << 20)\nfor _ in range(128):\n    os.write(1, block)\n    os.write(2, block)',
    };
    const start = vmRssKb(pid);
    const first = await evaluate(server, flood);
    // The first flood warms the heap; after it, more floods must not make the server grow: memory does
    // not depend on how much a program writes.
    const warm = vmRssKb(pid);
    const rss: number[] = [];
    for (let i = 0; i < 2; i++) {
      const done = await evaluate(server, flood);
      expect(done.status).toBe('succeeded');
      expect(done.result?.stdoutTruncated).toBe(true);
      expect(done.result?.stderrTruncated).toBe(true);
      expect(done.result?.stdout.length).toBe(done.limits.maxOutputBytes);
      expect(done.result?.stderr.length).toBe(done.limits.maxOutputBytes);
      rss.push(vmRssKb(pid));
    }
    expect(first.result?.stdoutTruncated).toBe(true);
    // 768 MiB were written in all; the server kept a few MiB of it. The margins leave room for when the
    // garbage collector runs on a loaded machine, still far below the 256 MiB each flood writes.
    expect(warm - start).toBeLessThan(128 * 1024);
    expect(Math.max(...rss) - warm).toBeLessThan(96 * 1024);
  });

  test('detached processes (setsid, double fork, nohup) die with the evaluation', async () => {
    const server = current();
    const marker = `${process.pid}${randomBytes(3).readUIntBE(0, 3)}`;
    const done = await evaluate(server, {
      language: 'bash',
      code: [
        `setsid sleep 1000.${marker} </dev/null >/dev/null 2>&1 &`,
        `( ( sleep 1001.${marker} </dev/null >/dev/null 2>&1 & ) & )`,
        `nohup sleep 1002.${marker} </dev/null >/dev/null 2>&1 &`,
        `python3 -c 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1003)\n' &`,
        'sleep 0.2; echo spawned',
      ].join('\n'),
    });
    expect(done.result?.stdout).toBe('spawned\n');
    // The evaluation is terminal only once every process of the run is dead: no waiting needed.
    expect(hostProcesses(`.${marker}`)).toEqual([]);
    if (isolation === 'gvisor') expect(gvisorSandboxProcesses(server.dataDir)).toEqual([]);
    else expect(hostProcesses('sleep 1003')).toEqual([]);
  });
}
