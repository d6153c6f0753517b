/**
 * The spawner helper, run as `python3 -I -S -c SPAWNER_SOURCE <socket path>` (a separate process, so no file
 * needs to ship next to the compiled JavaScript). Node's `spawn` forks the whole server: on a busy server
 * that costs milliseconds of page-table copying and copy-on-write faults per run and stalls the event loop
 * while the child execs. The helper is a small process that launches with `posix_spawn` (vfork: nothing is
 * copied) and reports back. Its protocol, one JSON object per line:
 *
 * - request on stdin: `{"id", "argv", "env", "fds": [spec per fd from 0], "cgroups": [cgroup.procs paths],
 *   "nice"}` (the niceness both bwrap processes get with the cgroups, see gate.ts),
 *   where a spec is `["socket", token]` (connect to the server's unix socket and send the token: the server
 *   keeps the other end), `["data", base64]` (a pipe holding these bytes, closed), `["null"]` (/dev/null) or
 *   `["info"]` (bwrap's `--info-fd`, read by the helper);
 * - replies on stdout: `{"id", "pid"}` once spawned, `{"id", "gated": sandboxPid|null}` once bwrap's two
 *   processes are in the run's cgroups (see gate.ts: the sandbox process must not have forked yet),
 *   `{"id", "exit": code}` (negative: killed by that signal), `{"id", "error": message}`.
 *
 * A request `{"id", "op": "mount"|"umount", "target", "options"}` mounts a tmpfs there (nosuid, nodev, noexec,
 * with those options) or detaches it, by the syscalls, and replies `{"id", "exit": 0}` or `{"id", "error"}`.
 *
 * Every fd the helper opens is close-on-exec (Python's default), so a run receives exactly its specs.
 */
export const SPAWNER_SOURCE = String.raw`
import base64, fcntl, json, os, signal, socket, sys, threading

# posix_spawn(setsid=) needs 3.8 and waitstatus_to_exitcode 3.9; an older Python exits, and the server then
# launches directly.
if sys.version_info < (3, 9):
    sys.exit(3)

SERVER = sys.argv[1]
out_lock = threading.Lock()

# Whatever this process inherited without close-on-exec (a supervisor's pipe) must not reach a run: close it
# now, while the helper is still single-threaded.
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    if fd > 2:
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                os.close(fd)
        except OSError:
            pass

def send(message):
    line = (json.dumps(message, separators=(",", ":")) + "\n").encode()
    with out_lock:
        view = memoryview(line)
        while view:
            view = view[os.write(1, view):]

def high(fd):
    # Above every target fd, so the dup2 actions below never overwrite a source still to be used.
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 256)
    os.close(fd)
    return moved

def open_spec(spec):
    kind = spec[0]
    if kind == "null":
        return high(os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)), None
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(SERVER)
            s.sendall((spec[1] + "\n").encode())
        except BaseException:
            s.close()
            raise
        return high(s.detach()), None
    r, w = os.pipe()
    if kind == "data":
        data = memoryview(base64.b64decode(spec[1]))
        while data:
            data = data[os.write(w, data):]
        os.close(w)
        return high(r), None
    return high(w), r

def read_sandbox_pid(fd):
    text = b""
    with os.fdopen(fd, "rb", buffering=0) as info:
        while True:
            chunk = info.read(4096)
            if not chunk:
                break
            text += chunk
            try:
                return int(json.loads(text)["child-pid"])
            except ValueError:
                continue
    return None

def join(cgroups, pids, sandbox, nice):
    for path in cgroups:
        for pid in pids:
            with open(path, "w") as f:
                f.write(str(pid))
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        except ProcessLookupError:
            pass
    try:
        with open("/proc/%d/task/%d/children" % (sandbox, sandbox)) as f:
            children = f.read().strip()
    except FileNotFoundError:
        return
    if children:
        raise RuntimeError("the sandbox process %d forked (%s) before its gate was opened" % (sandbox, children))

def run(request):
    rid = request["id"]
    opened, info, pid = [], None, None
    try:
        try:
            actions = []
            for target, spec in enumerate(request["fds"]):
                fd, reader = open_spec(spec)
                opened.append(fd)
                if reader is not None:
                    info = reader
                actions.append((os.POSIX_SPAWN_DUP2, fd, target))
            pid = os.posix_spawn(request["argv"][0], request["argv"], request["env"],
                                 file_actions=actions, setsid=True)
        finally:
            for fd in opened:
                os.close(fd)
        send({"id": rid, "pid": pid})
        sandbox = read_sandbox_pid(info) if info is not None else None
        info = None
        if sandbox is not None and request["cgroups"]:
            join(request["cgroups"], [pid, sandbox], sandbox, request.get("nice", 0))
        send({"id": rid, "gated": sandbox})
    except BaseException as error:
        if info is not None:
            os.close(info)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        send({"id": rid, "error": "%s: %s" % (type(error).__name__, error)})
        if pid is None:
            return
    _, status = os.waitpid(pid, 0)
    send({"id": rid, "exit": os.waitstatus_to_exitcode(status)})

libc = None

def mount_op(request):
    # A tmpfs mounted or detached with the syscalls themselves: no mount(8) process, no fork.
    global libc
    if libc is None:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
    target = request["target"].encode()
    if request["op"] == "mount":
        flags = 2 | 4 | 8  # MS_NOSUID | MS_NODEV | MS_NOEXEC
        result = libc.mount(b"crucible-artifacts", target, b"tmpfs", flags, request["options"].encode())
    else:
        result = libc.umount2(target, 2)  # MNT_DETACH
    if result != 0:
        import ctypes
        errno = ctypes.get_errno()
        send({"id": request["id"], "error": "%s %s: %s" % (request["op"], request["target"], os.strerror(errno))})
    else:
        send({"id": request["id"], "exit": 0})

for line in sys.stdin.buffer:
    request = json.loads(line)
    if "op" in request:
        mount_op(request)
    else:
        threading.Thread(target=run, args=(request,), daemon=True).start()
`;
