import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import { removeDataDir, startTestServer, type TestServer } from '../support/server.js';
import { resourceContainmentTests } from './containment-resources.js';
import { runnerFor, type Via } from './sandbox-runner.js';
import { REPO_ROOT, rawRequest, walkNoFollow } from './support.js';

type Isolation = 'bwrap' | 'gvisor';

/**
 * Hostile programs against a real server with the given sandbox; one test per point of the threat model.
 * Each program reports what it managed as one JSON line, so a failure shows exactly which probe got through.
 */
export function containmentSuite(isolation: Isolation, via: Via = 'evaluation'): void {
  const { evaluate, probe } = runnerFor(via);
  describeSandboxed(
    `containment under ${isolation}${via === 'sandbox' ? ' inside interactive sandboxes' : ''}`,
    () => {
      let server: TestServer;
      let listener: Server;
      let abstractListener: Server;
      const secret = `canary-${randomBytes(8).toString('hex')}`;
      const abstractName = `crucible-security-${randomBytes(6).toString('hex')}`;
      let hostDir = '';
      let canary = '';

      beforeAll(async () => {
        hostDir = await mkdtemp(path.join(os.tmpdir(), 'crucible-security-host-'));
        canary = path.join(hostDir, 'canary');
        await writeFile(canary, 'host canary\n');
        await chmod(canary, 0o644);
        server = await startTestServer({
          args: ['--concurrency', '2', '--sandbox', isolation],
          env: { CRUCIBLE_SECURITY_CANARY: secret },
        });
        // A host service on the loopback and one on an abstract unix socket: neither may be reachable.
        listener = createServer((socket) => socket.end(`${secret}\n`));
        await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
        abstractListener = createServer((socket) => socket.end(`${secret}\n`));
        await new Promise<void>((resolve) => abstractListener.listen(`\0${abstractName}`, resolve));
      });

      afterAll(async () => {
        listener?.close();
        abstractListener?.close();
        await server?.stop();
        if (server) await removeDataDir(server.dataDir);
        if (hostDir) await rm(hostDir, { recursive: true, force: true });
      });

      const serverPort = () => Number(new URL(server.url).port);

      test('host files and the server environment are invisible', async () => {
        const paths = [
          server.dataDir,
          path.join(server.dataDir, 'crucible.db'),
          hostDir,
          canary,
          REPO_ROOT,
          path.join(REPO_ROOT, 'package.json'),
          '/root',
          '/home',
          os.homedir(),
          '/etc/shadow',
          '/etc/hostname',
          '/var',
          // The host's cgroup tree (gVisor shows an empty emulated /sys/fs/cgroup, never the host's).
          '/sys/fs/cgroup/pids/crucible',
          '/sys/fs/cgroup/memory/crucible',
        ];
        const r = await probe<{ visible: string[]; leaks: string[]; env: string[] }>(
          server,
          `import json, os
paths = ${JSON.stringify(paths)}
visible = []
for p in paths:
    try:
        os.stat(p)
        visible.append(p)
    except OSError:
        pass
leaks = []
secret = ${JSON.stringify(secret)}
if any(secret in v for v in os.environ.values()):
    leaks.append("environ")
for pid in [d for d in os.listdir("/proc") if d.isdigit()]:
    for f in ("environ", "cmdline"):
        try:
            if secret.encode() in open(f"/proc/{pid}/{f}", "rb").read():
                leaks.append(f"/proc/{pid}/{f}")
        except OSError:
            pass
print(json.dumps({"visible": visible, "leaks": leaks, "env": sorted(set(os.environ) - {"PWD", "SHLVL", "_"})}))`,
        );
        expect(r.visible).toEqual([]);
        expect(r.leaks).toEqual([]);
        expect(r.env).toEqual(['HOME', 'LANG', 'PATH']);
      });

      test('no network: host loopback, abstract sockets, private ranges and DNS all fail at once', async () => {
        // The private-range probes only run when the sandbox has no route at all, so no packet can leave.
        const r = await probe<{
          routes: string[];
          interfaces: string[];
          results: Record<string, { errno: string; ms: number }>;
        }>(
          server,
          `import errno, json, os, socket, time
routes = [l for l in open("/proc/net/route").read().splitlines()[1:] if l.strip()]
interfaces = sorted(name for _, name in socket.if_nameindex())
results = {}
def attempt(label, fn):
    t = time.monotonic()
    try:
        fn()
        results[label] = {"errno": "CONNECTED", "ms": 0}
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e.errno, int) and e.errno > 0 else type(e).__name__
        results[label] = {"errno": name, "ms": round((time.monotonic() - t) * 1000)}
def tcp(host, port):
    return lambda: socket.create_connection((host, port), timeout=3).recv(100)
attempt("api", tcp("127.0.0.1", ${serverPort()}))
attempt("host-service", tcp("127.0.0.1", ${(listener.address() as { port: number }).port}))
def abstract():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect("\\0${abstractName}")
attempt("abstract-unix", abstract)
if not routes and interfaces == ["lo"]:
    for host in ("10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254"):
        attempt(host, tcp(host, 80))
    attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
print(json.dumps({"routes": routes, "interfaces": interfaces, "results": results}))`,
        );
        expect(r.routes).toEqual([]);
        expect(r.interfaces).toEqual(['lo']);
        for (const label of ['api', 'host-service', 'abstract-unix']) {
          expect(r.results[label]?.errno, label).toMatch(/^(ECONNREFUSED|ENOENT)$/);
        }
        for (const label of ['10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.169.254']) {
          expect(r.results[label]?.errno, label).toMatch(/^(ENETUNREACH|EHOSTUNREACH)$/);
        }
        expect(r.results.dns?.errno).toBe('gaierror');
        for (const [label, result] of Object.entries(r.results)) expect(result.ms, label).toBeLessThan(1000);
      });

      test('writes outside /tmp fail; no capabilities; no privilege to regain', async () => {
        const r = await probe<{ wrote: string[]; tmp: boolean; caps: string[]; privileged: string[] }>(
          server,
          `import ctypes, json, os, socket
wrote = []
for p in ["/code/main.py", "/code/new", "/usr/bin/new", "/usr/local/bin/new", "/new", "/etc/passwd", "/etc/new",
          "/dev/new", "/proc/sys/kernel/hostname", "/opt/new", "/bin/new"]:
    try:
        with open(p, "a") as f:
            f.write("x")
        wrote.append(p)
    except OSError:
        pass
for d in ["/newdir", "/code/newdir", "/usr/newdir"]:
    try:
        os.mkdir(d)
        wrote.append(d)
    except OSError:
        pass
open("/tmp/ok", "w").write("ok")
caps = [l for l in open("/proc/self/status").read().splitlines()
        if l.startswith("Cap") and l.split()[1].strip("0") != ""]
privileged = []
libc = ctypes.CDLL(None, use_errno=True)
def attempt(label, fn):
    try:
        if fn() is False:
            return
        privileged.append(label)
    except OSError:
        pass
attempt("setuid0", lambda: os.setuid(0))
attempt("chroot", lambda: os.chroot("/tmp"))
attempt("chown", lambda: os.chown("/tmp/ok", 0, 0))
attempt("raw-socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("mknod", lambda: os.mknod("/tmp/mem", 0o600 | 0o020000, os.makedev(1, 1)))
attempt("read-mem", lambda: len(open("/tmp/mem", "rb").read(16)) > 0)
attempt("unshare-user", lambda: libc.unshare(0x10000000) == 0)
attempt("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0)
print(json.dumps({"wrote": wrote, "tmp": open("/tmp/ok").read() == "ok", "caps": caps, "privileged": privileged}))`,
        );
        expect(r.wrote).toEqual([]);
        expect(r.tmp).toBe(true);
        expect(r.caps).toEqual([]);
        // gVisor lets a program create device nodes and user namespaces, but both live in the sentry's own
        // emulated kernel: the node opens no host device, the namespace holds no host capability.
        const allowed = isolation === 'gvisor' ? ['mknod', 'unshare-user'] : [];
        expect(r.privileged.filter((p) => !allowed.includes(p))).toEqual([]);
      });

      test('kernel interfaces that sandboxes escape through are refused (seccomp; gVisor never exposes them)', async () => {
        const r = await probe<Record<string, [number, number]>>(
          server,
          `import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
calls = {"io_uring_setup": 425, "keyctl": 250, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298,
         "ptrace": 101, "unshare": 272, "setns": 308, "open_tree": 428, "getpid": 39}
out = {}
for name, nr in calls.items():
    ctypes.set_errno(0)
    out[name] = [libc.syscall(nr, 0, 0, 0, 0, 0), ctypes.get_errno()]
print(json.dumps(out))`,
        );
        const { getpid, ...dangerous } = r;
        expect(getpid?.[0]).toBeGreaterThan(0);
        // gVisor emulates ptrace and unshare inside its own kernel (the sentry): they reach nothing of the host.
        const emulated = isolation === 'gvisor' ? ['ptrace', 'unshare'] : [];
        for (const [name, [result, errno]] of Object.entries(dangerous)) {
          if (emulated.includes(name)) continue;
          // bwrap's filter answers EPERM; gVisor's own kernel refuses or lacks them (EPERM, ENOSYS, EINVAL…).
          expect({ name, result }).toEqual({ name, result: -1 });
          if (isolation === 'bwrap') expect({ name, errno }).toEqual({ name, errno: 1 });
        }
      });

      test('other processes are invisible (PID namespace)', async () => {
        const r = await probe<{ pids: string[]; foreign: string[] }>(
          server,
          `import json, os
pids = sorted(d for d in os.listdir("/proc") if d.isdigit())
foreign = []
for pid in pids:
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
    except OSError:
        continue
    # The sandbox's own init (bwrap) is visible and names its mounts; host processes must not be.
    if "crucible.js" in cmd or "vitest" in cmd or "serve --port" in cmd or "setpriv" in cmd:
        foreign.append(cmd)
print(json.dumps({"pids": pids, "foreign": foreign}))`,
        );
        expect(r.foreign).toEqual([]);
        // bwrap's init, the program; gVisor shows the program alone.
        expect(r.pids.length).toBeLessThanOrEqual(3);
        expect(r.pids.every((p) => Number(p) < 10)).toBe(true);
      });

      // The resource half submits evaluations itself (limits, reasons, truncation are evaluation results).
      if (via === 'evaluation') resourceContainmentTests(isolation, () => server);

      test('the program cannot signal or kill the server', async () => {
        const serverPid = server.process.pid!;
        const r = await probe<Record<string, string>>(
          server,
          `import errno, json, os, signal
out = {}
# Under gVisor the program is PID 1 itself; under bwrap PID 1 is bwrap's init, which ignores the signal.
targets = [("server", ${serverPid}, signal.SIGKILL), ("parent", os.getppid(), 0)]
if os.getpid() != 1:
    targets.append(("init", 1, signal.SIGKILL))
for label, pid, sig in targets:
    try:
        os.kill(pid, sig)
        out[label] = "delivered"
    except OSError as e:
        out[label] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out), flush=True)
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass`,
        );
        // Inside the PID namespace the server's pid names nothing, or something else entirely.
        expect(r.server).toMatch(/^(ESRCH|EPERM)$/);
        expect(server.process.exitCode).toBeNull();
        expect(server.process.signalCode).toBeNull();
        expect((await rawRequest(`${server.url}/healthz`)).status).toBe(200);
        const after = await evaluate(server, { language: 'bash', code: 'echo alive' });
        expect(after.result?.stdout).toBe('alive\n');
      });

      test('nothing persists from one evaluation to the next', async () => {
        const first = await evaluate(server, {
          language: 'bash',
          code: [
            'echo one > /tmp/persist',
            'echo one > /dev/shm/persist',
            'mkdir -p /tmp/.hidden && echo one > /tmp/.hidden/x',
            'echo written',
          ].join('\n'),
        });
        expect(first.result?.stdout).toBe('written\n');
        const r = await probe<{ found: string[]; tmp: string[]; shm: string[] }>(
          server,
          `import json, os
found = [p for p in ("/tmp/persist", "/dev/shm/persist", "/tmp/.hidden") if os.path.exists(p)]
print(json.dumps({"found": found, "tmp": os.listdir("/tmp"), "shm": os.listdir("/dev/shm")}))`,
        );
        expect(r).toEqual({ found: [], tmp: [], shm: [] });
      });

      test('no host-side file operation follows a path or symlink the program controls', async () => {
        const before = await stat(canary);
        // The program plants links to a host file everywhere it can write, under names a careless host-side
        // worker would use for inputs and outputs, and tries to replace its own code file.
        const done = await evaluate(server, {
          language: 'bash',
          code: [
            'set +e',
            `for d in /tmp /dev/shm; do for n in stdout stderr output result main.py code files 0 1 2; do`,
            `  ln -sf ${canary} "$d/$n" 2>/dev/null; done; done`,
            `ln -sf ${canary} /code/main.sh 2>/dev/null && echo replaced-code`,
            `ln -sf ${canary} /code/link 2>/dev/null && echo linked-code`,
            `ln -sf ${hostDir} /tmp/dir 2>/dev/null`,
            'echo planted',
          ].join('\n'),
        });
        expect(done.result?.stdout).toBe('planted\n');
        // Let the server finish the run's cleanup (cgroups, bundles) before looking.
        await evaluate(server, { language: 'bash', code: 'true' });
        const after = await stat(canary);
        expect(await readFile(canary, 'utf8')).toBe('host canary\n');
        expect({ mode: after.mode, uid: after.uid, gid: after.gid, mtime: after.mtimeMs }).toEqual({
          mode: before.mode,
          uid: before.uid,
          gid: before.gid,
          mtime: before.mtimeMs,
        });
        // The program never had a host-visible writable place: nothing in the data directory belongs to the
        // sandbox user, and the only links are the server's own (gVisor's rootfs merged-usr links).
        const entries = await walkNoFollow(server.dataDir);
        expect(entries.filter((e) => e.uid === 65534)).toEqual([]);
        const links = entries.filter((e) => e.symlink).map((e) => path.relative(server.dataDir, e.path));
        const expected =
          isolation === 'gvisor'
            ? ['bin', 'lib', 'lib64', 'sbin'].map((l) => `sandbox/gvisor/rootfs/${l}`)
            : [];
        expect(links.sort()).toEqual(expected.sort());
      });
    },
    isolation === 'gvisor' ? 'gvisor' : 'bwrap',
  );
}
