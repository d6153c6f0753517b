//! crucible-runner: the process that runs inside each evaluation pod, in front of the program.
//!
//! Why it exists: a container's log interleaves stdout and stderr with no markers, and the split-stream log
//! API (KEP-3288) is alpha. The runner keeps the two streams apart by writing every chunk the program
//! produces as one framed line on its own stdout, so the kubelet log carries an exact, lossless record:
//!
//! ```text
//! o <seq> <base64>                                  a chunk of the program's stdout
//! e <seq> <base64>                                  a chunk of the program's stderr
//! x <seq> <exitCode|-> <signal|-> <timedOut 0|1> <cpuMs|-> <peakBytes|->
//!                                                   the program ended (always the last frame)
//! ```
//!
//! With `--artifacts DIR`, the files the program left there are streamed just before the exit frame
//! (`a`/`d`/`A` frames, see artifacts.rs).
//!
//! The exit frame also carries what the program used (usage reports, docs/usage.md): CPU time (user + system)
//! and peak memory. In a container at the root of its own cgroup v2 namespace (what containerd and CRI-O give
//! on cgroup v2 nodes) both come from the container's cgroup (`cpu.stat` usage_usec, `memory.peak`), which
//! counts every process of the container, the runner's own small share included; elsewhere (cgroup v1, or
//! not at a namespace root) from `getrusage(RUSAGE_CHILDREN)`: the program and the descendants it waited for,
//! and for memory the largest single process's peak RSS, not their sum. `-` when neither answers.
//!
//! Frames are whole lines of at most ~11 KiB (below the CRI's 16 KiB line split) whatever the bytes are, so
//! missing trailing newlines and partial lines survive; `seq` lets the collector drop duplicates exactly
//! when it re-reads the log after a reconnect (src/runtime/kubernetes/frames.ts decodes them). It also
//! assembles the payload chunks (see payload.ts), feeds stdin, enforces the wall-time limit (on the
//! program's whole process group) and the per-stream output cap, and forwards SIGTERM and SIGINT.
//!
//! It must run in any language image (Debian, Alpine, distroless), so it is a static executable using only
//! std; the few libc calls std does not wrap are declared by hand below and resolve against the static libc.
//!
//! Usage:
//!   crucible-runner [--payload DIR] [--workdir DIR] [--stdin NAME] [--timeout-ms N] [--max-output N]
//!                   [--artifacts DIR --artifacts-max BYTES] -- PROGRAM ARGS…
//!   crucible-runner install [DIR]      copy this executable to DIR/crucible-runner (default /crucible/bin)
//!
//! Exit status: the program's exit code; 128 + N when it died by signal N; 127 when the payload could not
//! be assembled or the program could not be started.

mod agent;
mod artifacts;
mod compile;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::FromRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Program bytes per frame: 8 KiB of data is 10,924 base64 characters, well below the CRI's 16 KiB split.
const FRAME_BYTES: usize = 8 * 1024;
/// How much of a pipe is read at once (then cut into frames).
const READ_BYTES: usize = 64 * 1024;
/// After the program exited, how long its pipes may stay open (held by a process that left its process
/// group) when the wall-time deadline has already passed or is closer.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn setpgid(pid: i32, pgid: i32) -> i32;
    fn signal(signum: i32, handler: usize) -> usize;
    fn _exit(status: i32) -> !;
    fn getrusage(who: i32, usage: *mut RUsage) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn pause() -> i32;
}

const SIGCHLD: i32 = 17;

/// SIGCHLD handler of `idle`: does nothing, but its presence makes `pause` return when a child dies.
extern "C" fn child_died(_sig: i32) {}

/// `crucible-runner idle`: the main process of a Kubernetes sandbox pod (docs/sandboxes.md). The agent runs
/// in exec sessions beside it; as the container's PID 1 it reaps the processes they orphan, and it ends on
/// SIGTERM (a PID 1 without a handler would ignore it and wait for the kubelet's SIGKILL).
fn idle() -> ! {
    unsafe {
        signal(SIGTERM, forward_signal as extern "C" fn(i32) as usize);
        signal(SIGINT, forward_signal as extern "C" fn(i32) as usize);
        signal(SIGCHLD, child_died as extern "C" fn(i32) as usize);
        loop {
            let mut status = 0;
            if waitpid(-1, &mut status, 0) < 0 {
                pause();
            }
        }
    }
}

/// `getrusage`'s `who` for the children the calling process waited for.
const RUSAGE_CHILDREN: i32 = -1;

/// `struct timeval` as Linux lays it out (two longs).
#[repr(C)]
struct TimeVal {
    sec: std::os::raw::c_long,
    usec: std::os::raw::c_long,
}

/// `struct rusage` as Linux lays it out: two timevals, then 14 longs (`ru_maxrss`, in KiB, first).
#[repr(C)]
struct RUsage {
    utime: TimeVal,
    stime: TimeVal,
    maxrss: std::os::raw::c_long,
    rest: [std::os::raw::c_long; 13],
}

/// The program's process group (= its pid), once it runs; read by the signal handler.
static GROUP: AtomicI32 = AtomicI32::new(0);

/// SIGTERM/SIGINT handler: passes the signal on to the program's whole process group. Before the program
/// runs there is nothing to stop, so the runner ends at once. Only async-signal-safe calls.
extern "C" fn forward_signal(sig: i32) {
    let group = GROUP.load(Ordering::SeqCst);
    unsafe {
        if group > 0 {
            kill(-group, sig);
        } else {
            _exit(128 + sig);
        }
    }
}

fn kill_group(sig: i32) {
    let group = GROUP.load(Ordering::SeqCst);
    if group > 0 {
        unsafe {
            kill(-group, sig);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Frames

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what Node's `Buffer#toString('base64')` writes and reads).
fn base64_encode(data: &[u8], out: &mut Vec<u8>) {
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.push(BASE64[(n >> 18) as usize & 63]);
        out.push(BASE64[(n >> 12) as usize & 63]);
        out.push(BASE64[(n >> 6) as usize & 63]);
        out.push(BASE64[n as usize & 63]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.push(BASE64[(n >> 18) as usize & 63]);
            out.push(BASE64[(n >> 12) as usize & 63]);
            out.extend_from_slice(b"==");
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.push(BASE64[(n >> 18) as usize & 63]);
            out.push(BASE64[(n >> 12) as usize & 63]);
            out.push(BASE64[(n >> 6) as usize & 63]);
            out.push(b'=');
        }
        _ => {}
    }
}

struct FrameState {
    seq: u64,
    /// The `x` frame was written: nothing may follow it.
    closed: bool,
    out: ManuallyDrop<File>,
    /// `--artifacts DIR` and its byte cap: collected once, right before the exit frame.
    artifacts: Option<(PathBuf, u64)>,
}

/// The runner's stdout, shared by the two pipe readers and the main thread. Each frame is written whole
/// under the lock, so frames never interleave and `seq` is strictly increasing in the log.
#[derive(Clone)]
struct Frames(Arc<Mutex<FrameState>>);

impl Frames {
    fn new() -> Frames {
        // fd 1 without std's line buffer: a frame is exactly one write of one whole line.
        let out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        Frames(Arc::new(Mutex::new(FrameState {
            seq: 0,
            closed: false,
            out,
            artifacts: None,
        })))
    }

    fn collect_artifacts_at_exit(&self, dir: PathBuf, max_bytes: u64) {
        if let Ok(mut state) = self.0.lock() {
            state.artifacts = Some((dir, max_bytes));
        }
    }

    /// Writes `<tag> <seq> <body>\n`. A closed log (the kubelet is gone) is not the program's failure: the
    /// write error is ignored and the program keeps running to its end.
    fn write(&self, tag: u8, body: &[u8], last: bool) {
        let mut state = match self.0.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.closed {
            return;
        }
        state.seq += 1;
        let mut line = Vec::with_capacity(body.len() + 24);
        line.push(tag);
        line.push(b' ');
        line.extend_from_slice(state.seq.to_string().as_bytes());
        line.push(b' ');
        line.extend_from_slice(body);
        line.push(b'\n');
        let _ = state.out.write_all(&line);
        if last {
            state.closed = true;
        }
    }

    /// Frames `data` as `o`/`e` chunks of at most FRAME_BYTES each.
    fn data(&self, tag: u8, data: &[u8]) {
        let mut body = Vec::with_capacity(FRAME_BYTES / 3 * 4 + 4);
        for chunk in data.chunks(FRAME_BYTES) {
            body.clear();
            base64_encode(chunk, &mut body);
            self.write(tag, &body, false);
        }
    }

    /// The `--artifacts` setting, no longer collected at exit: a graded run collects after each test.
    fn take_artifacts(&self) -> Option<(PathBuf, u64)> {
        self.0
            .lock()
            .ok()
            .and_then(|mut state| state.artifacts.take())
    }

    fn exit(&self, code: Option<i32>, signal: Option<&str>, timed_out: bool, usage: Usage) {
        if let Some((dir, max_bytes)) = self.take_artifacts() {
            artifacts::collect(self, &dir, max_bytes);
        }
        let number = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        let code = code.map_or_else(|| "-".to_string(), |c| c.to_string());
        let body = format!(
            "{} {} {} {} {}",
            code,
            signal.unwrap_or("-"),
            if timed_out { 1 } else { 0 },
            number(usage.cpu_ms),
            number(usage.peak_bytes)
        );
        self.write(b'x', body.as_bytes(), true);
    }
}

/// The per-stream output cap: the first `max` bytes pass, the rest is read and dropped. None: no cap.
struct Budget {
    max: Option<u64>,
    used: u64,
}

impl Budget {
    fn take<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        match self.max {
            None => data,
            Some(max) => {
                let room = max.saturating_sub(self.used);
                let n = if (data.len() as u64) < room {
                    data.len()
                } else {
                    room as usize
                };
                self.used += n as u64;
                &data[..n]
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Options

struct Options {
    payload: OsString,
    workdir: OsString,
    stdin: OsString,
    /// None: no wall-time limit.
    timeout: Option<Duration>,
    /// None: no output cap.
    max_output: Option<u64>,
    /// `--artifacts DIR`: streamed before the exit frame, at most `--artifacts-max` bytes (default 0).
    artifacts: Option<(PathBuf, u64)>,
}

/// A flag's numeric value as JavaScript's `Number()` reads it ("" is 0; NaN, negative and 0 turn the
/// limit off). Returns the value only when it is a positive finite number.
fn positive_number(value: &OsStr) -> Option<f64> {
    let text = value.to_str()?.trim();
    let number = if text.is_empty() {
        0.0
    } else if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else if let Some(oct) = text.strip_prefix("0o").or_else(|| text.strip_prefix("0O")) {
        u64::from_str_radix(oct, 8).ok()? as f64
    } else if let Some(bin) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
        u64::from_str_radix(bin, 2).ok()? as f64
    } else if text
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        text.parse::<f64>().ok()?
    } else {
        return None;
    };
    if number.is_finite() && number > 0.0 {
        Some(number)
    } else {
        None
    }
}

/// Flags come in `--name value` pairs before `--`; unknown flags are skipped with their value.
fn parse_args(argv: &[OsString]) -> (Options, Vec<OsString>) {
    let split = argv.iter().position(|a| a == "--");
    let (flags, command) = match split {
        Some(i) => (&argv[..i], argv[i + 1..].to_vec()),
        None => (argv, Vec::new()),
    };
    let mut options = Options {
        payload: OsString::new(),
        workdir: OsString::new(),
        stdin: OsString::from("stdin"),
        timeout: None,
        max_output: None,
        artifacts: None,
    };
    let mut i = 0;
    while i < flags.len() {
        let value = flags.get(i + 1).cloned().unwrap_or_default();
        match flags[i].to_str() {
            Some("--payload") => options.payload = value,
            Some("--workdir") => options.workdir = value,
            Some("--stdin") => options.stdin = value,
            Some("--timeout-ms") => {
                // Capped at ~31 years so the deadline arithmetic cannot overflow.
                options.timeout = positive_number(&value)
                    .map(|ms| Duration::from_secs_f64((ms / 1000.0).min(1e9)))
            }
            // Like a byte count sliced in JavaScript: fractions are cut off (0.5 lets nothing through).
            Some("--max-output") => {
                options.max_output = positive_number(&value).map(|n| n.floor() as u64)
            }
            Some("--artifacts") => {
                let max = options.artifacts.take().map_or(0, |(_, max)| max);
                options.artifacts = Some((PathBuf::from(&value), max));
            }
            Some("--artifacts-max") => {
                let max = positive_number(&value).map_or(0, |n| n.floor() as u64);
                let dir = options
                    .artifacts
                    .take()
                    .map_or_else(PathBuf::new, |(dir, _)| dir);
                options.artifacts = Some((dir, max));
            }
            _ => {}
        }
        i += 2;
    }
    (options, command)
}

/// `dir/name` as Node's `path.join` forms it for relative names (an empty dir leaves the name alone).
fn join(dir: &OsStr, name: &OsStr) -> PathBuf {
    if dir.is_empty() {
        return PathBuf::from(name);
    }
    let mut bytes = dir.as_bytes().to_vec();
    while bytes.len() > 1 && bytes.ends_with(b"/") {
        bytes.pop();
    }
    if !bytes.ends_with(b"/") {
        bytes.push(b'/');
    }
    let mut rest = name.as_bytes();
    while rest.starts_with(b"/") {
        rest = &rest[1..];
    }
    bytes.extend_from_slice(rest);
    PathBuf::from(OsString::from_vec(bytes))
}

// ---------------------------------------------------------------------------------------------------------
// Payload

fn io_context(op: &str, path: &Path, error: io::Error) -> String {
    format!("{} '{}': {}", op, path.display(), error)
}

/// Directory entries sorted by name (readdir order is arbitrary; sorting makes the result reproducible).
fn entries(dir: &Path) -> Result<Vec<OsString>, String> {
    let read = fs::read_dir(dir).map_err(|e| io_context("scandir", dir, e))?;
    let mut names = Vec::new();
    for entry in read {
        names.push(
            entry
                .map_err(|e| io_context("scandir", dir, e))?
                .file_name(),
        );
    }
    names.sort();
    Ok(names)
}

/// `name.NNN` (exactly three digits after the last dot, a non-empty name) → (name, NNN).
fn chunk_key(key: &OsStr) -> Option<(OsString, u32)> {
    let bytes = key.as_bytes();
    if bytes.len() < 5 {
        return None;
    }
    let (name, suffix) = bytes.split_at(bytes.len() - 4);
    if suffix[0] != b'.' || !suffix[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let index = suffix[1..]
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Some((OsString::from_vec(name.to_vec()), index))
}

/// Concatenates the `<file>.<nnn>` keys of every mounted ConfigMap (`<payload>/<i>/`) into `<workdir>/<file>`.
/// Entries starting with `..` are the kubelet's atomic-update bookkeeping (`..data`, `..2024_…`), not keys.
fn assemble_payload(payload: &OsStr, workdir: &OsStr) -> Result<(), String> {
    let root = Path::new(payload);
    let mut files: Vec<(OsString, Vec<(u32, PathBuf)>)> = Vec::new();
    for part in entries(root)? {
        if part.as_bytes().starts_with(b"..") {
            continue;
        }
        let dir = root.join(&part);
        for key in entries(&dir)? {
            if key.as_bytes().starts_with(b"..") {
                continue;
            }
            let (name, index) = match chunk_key(&key) {
                Some(parsed) => parsed,
                None => continue,
            };
            let path = dir.join(&key);
            match files.iter_mut().find(|(n, _)| *n == name) {
                Some((_, chunks)) => chunks.push((index, path)),
                None => files.push((name, vec![(index, path)])),
            }
        }
    }
    let workdir_path = Path::new(workdir);
    fs::create_dir_all(workdir_path).map_err(|e| io_context("mkdir", workdir_path, e))?;
    for (name, mut chunks) in files {
        chunks.sort_by_key(|(index, _)| *index);
        let mut content = Vec::new();
        for (_, path) in &chunks {
            let mut file = File::open(path).map_err(|e| io_context("open", path, e))?;
            file.read_to_end(&mut content)
                .map_err(|e| io_context("read", path, e))?;
        }
        let target = join(workdir, &name);
        fs::write(&target, &content).map_err(|e| io_context("open", &target, e))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// install

/// `crucible-runner install DIR`: the init container copies the runner into the pod's shared volume.
fn install(dir: Option<&OsString>) -> Result<(), String> {
    let dir = dir.map_or_else(|| PathBuf::from("/crucible/bin"), PathBuf::from);
    let me = Path::new("/proc/self/exe");
    let bytes = fs::read(me)
        .or_else(|_| std::env::current_exe().and_then(fs::read))
        .map_err(|e| io_context("read", me, e))?;
    fs::create_dir_all(&dir).map_err(|e| io_context("mkdir", &dir, e))?;
    let target = dir.join("crucible-runner");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&target)
        .map_err(|e| io_context("open", &target, e))?;
    file.write_all(&bytes)
        .map_err(|e| io_context("write", &target, e))?;
    // The mode given to open() is filtered by the umask; the runner must be executable by any user.
    file.set_permissions(fs::Permissions::from_mode(0o755))
        .map_err(|e| io_context("chmod", &target, e))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Running the program

/// Linux signal names as Node reports them (`SIGKILL`, …); realtime signals have no name there.
fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(name) if sig > 0 && !name.is_empty() => (*name).to_string(),
        _ => format!("SIG{}", sig),
    }
}

enum Event {
    Exited(io::Result<ExitStatus>),
    PipeClosed,
}

/// Copies one of the program's pipes into frames until it closes, then reports it.
fn pump(
    mut pipe: impl Read + Send + 'static,
    tag: u8,
    max: Option<u64>,
    frames: Frames,
    events: mpsc::Sender<Event>,
) {
    thread::spawn(move || {
        let mut budget = Budget { max, used: 0 };
        let mut buf = vec![0u8; READ_BYTES];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // Past the cap the bytes are still read, so the program never blocks on a full pipe.
                    let kept = budget.take(&buf[..n]);
                    if !kept.is_empty() {
                        frames.data(tag, kept);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = events.send(Event::PipeClosed);
    });
}

fn run(options: Options, command: Vec<OsString>, frames: &Frames) -> i32 {
    if !options.payload.is_empty() {
        if let Err(message) = assemble_payload(&options.payload, &options.workdir) {
            let text = format!("crucible-runner: cannot assemble payload: {}\n", message);
            frames.data(b'e', text.as_bytes());
            frames.exit(Some(127), None, false, Usage::NONE);
            return 127;
        }
    }
    let mut stderr_budget = Budget {
        max: options.max_output,
        used: 0,
    };
    let program = match command.first() {
        Some(program) => program.clone(),
        None => {
            let text = "crucible-runner: no program given (expected `-- PROGRAM ARGS…`)\n";
            frames.data(b'e', stderr_budget.take(text.as_bytes()));
            frames.exit(Some(127), None, false, Usage::NONE);
            return 127;
        }
    };
    let mut cmd = Command::new(&program);
    cmd.args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so the wall-time limit and forwarded signals reach everything it started.
    // (CommandExt::process_group needs Rust 1.64; pre_exec works on Debian 12's 1.63.)
    unsafe {
        cmd.pre_exec(|| {
            if setpgid(0, 0) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(error) => {
            let text = format!(
                "crucible-runner: cannot start {}: {}\n",
                program.to_string_lossy(),
                error
            );
            frames.data(b'e', stderr_budget.take(text.as_bytes()));
            frames.exit(Some(127), None, false, Usage::NONE);
            return 127;
        }
    };
    // spawn() returns after the exec, so the process group exists by now.
    GROUP.store(child.id() as i32, Ordering::SeqCst);
    let deadline = options.timeout.map(|t| Instant::now() + t);

    let (events, received) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    pump(
        stdout,
        b'o',
        options.max_output,
        frames.clone(),
        events.clone(),
    );
    pump(
        stderr,
        b'e',
        options.max_output,
        frames.clone(),
        events.clone(),
    );
    if let Some(mut stdin) = child.stdin.take() {
        let path = join(&options.workdir, &options.stdin);
        thread::spawn(move || {
            // A missing stdin file is an empty stdin. The program may exit without reading its stdin
            // (EPIPE; std ignores SIGPIPE in the runner): that is its right, not a runner failure.
            if let Ok(mut file) = File::open(path) {
                let _ = io::copy(&mut file, &mut stdin);
            }
        });
    }
    let exited = events.clone();
    thread::spawn(move || {
        let _ = exited.send(Event::Exited(child.wait()));
    });
    drop(events);

    let (status, timed_out) = wait_for_exit(received, deadline);

    // After the wait: the program has been reaped, so its (and its waited-for descendants') rusage is in.
    let usage = measure_usage();
    match status {
        Some(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => {
                frames.exit(Some(code), None, timed_out, usage);
                code
            }
            (None, Some(sig)) => {
                frames.exit(None, Some(&signal_name(sig)), timed_out, usage);
                128 + sig
            }
            (None, None) => {
                frames.exit(None, None, timed_out, usage);
                128 + SIGKILL
            }
        },
        // waitpid failed (cannot happen for our own child) or the program never reported.
        _ => {
            frames.exit(None, None, timed_out, usage);
            128 + SIGKILL
        }
    }
}

/// Waits for the program's exit and both of its pipes to close. Until the exit: its deadline (then SIGKILL
/// to the group, `timed_out`). After: the pipes may take until the deadline, and at least DRAIN_GRACE, to
/// close (only a process that left the killed group can hold them longer). Shared by a plain run and each
/// stage of a staged one (compile_exec.rs).
fn wait_for_exit(
    received: mpsc::Receiver<Event>,
    deadline: Option<Instant>,
) -> (Option<io::Result<ExitStatus>>, bool) {
    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut pipes_open = 2;
    let mut timed_out = false;
    let mut wait_until = deadline;
    while status.is_none() || pipes_open > 0 {
        let event = match wait_until {
            Some(until) => received.recv_timeout(until.saturating_duration_since(Instant::now())),
            None => received.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Exited(result)) => {
                status = Some(result);
                // The program is over: whatever it left running in its group goes with it, as when a
                // container's main process exits, and releases the pipes it inherited.
                kill_group(SIGKILL);
                let grace = Instant::now() + DRAIN_GRACE;
                wait_until = Some(deadline.map_or(grace, |d| if d > grace { d } else { grace }));
            }
            Ok(Event::PipeClosed) => pipes_open -= 1,
            Err(RecvTimeoutError::Timeout) if status.is_none() => {
                timed_out = true;
                kill_group(SIGKILL);
                wait_until = None;
            }
            Err(_) => break,
        }
    }
    (status, timed_out)
}
// ---------------------------------------------------------------------------------------------------------
// Usage (see the top of the file for where each figure comes from)

/// What the program used; None: not measured.
#[derive(Clone, Copy)]
struct Usage {
    cpu_ms: Option<u64>,
    peak_bytes: Option<u64>,
}

impl Usage {
    const NONE: Usage = Usage {
        cpu_ms: None,
        peak_bytes: None,
    };
}

/// True when this process sits at the root of its own cgroup v2 namespace, so `/sys/fs/cgroup` is the
/// container's cgroup (a single `0::/` line; cgroup v1 or a host cgroup shows more or another path).
fn own_cgroup() -> bool {
    fs::read_to_string("/proc/self/cgroup").map_or(false, |text| text == "0::/\n")
}

/// The value of `key` in a flat-keyed cgroup file (`cpu.stat`), or the file's one number when `key` is None.
fn cgroup_number(file: &str, key: Option<&str>) -> Option<u64> {
    let text = fs::read_to_string(Path::new("/sys/fs/cgroup").join(file)).ok()?;
    match key {
        None => text.trim().parse().ok(),
        Some(key) => text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() == Some(key) {
                words.next()?.parse().ok()
            } else {
                None
            }
        }),
    }
}

fn children_rusage() -> Option<(u64, u64)> {
    let mut usage: RUsage = unsafe { std::mem::zeroed() };
    if unsafe { getrusage(RUSAGE_CHILDREN, &mut usage) } != 0 {
        return None;
    }
    let micros = |t: &TimeVal| {
        (t.sec as u64)
            .saturating_mul(1_000_000)
            .saturating_add(t.usec as u64)
    };
    let cpu_ms = (micros(&usage.utime) + micros(&usage.stime)) / 1000;
    Some((cpu_ms, (usage.maxrss as u64).saturating_mul(1024)))
}

fn measure_usage() -> Usage {
    let rusage = children_rusage();
    if own_cgroup() {
        let cpu = cgroup_number("cpu.stat", Some("usage_usec")).map(|us| us / 1000);
        let peak = cgroup_number("memory.peak", None);
        if cpu.is_some() || peak.is_some() {
            return Usage {
                cpu_ms: cpu.or(rusage.map(|r| r.0)),
                peak_bytes: peak.or(rusage.map(|r| r.1)),
            };
        }
    }
    Usage {
        cpu_ms: rusage.map(|r| r.0),
        peak_bytes: rusage.map(|r| r.1),
    }
}

fn main() {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    if argv.first().map_or(false, |a| a == "agent") {
        std::process::exit(agent::main(&argv[1..]));
    }
    if argv.first().map_or(false, |a| a == "idle") {
        idle();
    }
    if argv.first().map_or(false, |a| a == "install") {
        if let Err(message) = install(argv.get(1)) {
            eprintln!("crucible-runner: install failed: {}", message);
            std::process::exit(1);
        }
        return;
    }
    // As PID 1 of the container a signal without a handler is ignored: the kubelet's SIGTERM must reach the
    // program. Handlers are reset to the default in the program by exec.
    unsafe {
        signal(SIGTERM, forward_signal as extern "C" fn(i32) as usize);
        signal(SIGINT, forward_signal as extern "C" fn(i32) as usize);
    }
    let (options, command) = parse_args(&argv);
    let frames = Frames::new();
    if let Some((dir, max_bytes)) = options.artifacts.clone() {
        frames.collect_artifacts_at_exit(dir, max_bytes);
    }
    // Compiled languages, files and tests (compile.rs); otherwise the plain run.
    let code = match compile::parse(&argv) {
        Some(staged) => compile::run(options, staged, command, &frames),
        None => run(options, command, &frames),
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        let mut out = Vec::new();
        base64_encode(data, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foob"), "Zm9vYg==");
        assert_eq!(b64(b"fooba"), "Zm9vYmE=");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(&[0, 255, 254, 10]), "AP/+Cg==");
    }

    #[test]
    fn chunk_keys() {
        assert_eq!(
            chunk_key(OsStr::new("main.py.000")),
            Some((OsString::from("main.py"), 0))
        );
        assert_eq!(
            chunk_key(OsStr::new("a.012")),
            Some((OsString::from("a"), 12))
        );
        assert_eq!(chunk_key(OsStr::new(".000")), None);
        assert_eq!(chunk_key(OsStr::new("a.00")), None);
        assert_eq!(chunk_key(OsStr::new("a.0000")), None);
        assert_eq!(
            chunk_key(OsStr::new("a.000.001")),
            Some((OsString::from("a.000"), 1))
        );
        assert_eq!(chunk_key(OsStr::new("..2024_01_01.123456789")), None);
    }

    #[test]
    fn numbers_like_javascript() {
        assert_eq!(positive_number(OsStr::new("")), None);
        assert_eq!(positive_number(OsStr::new("0")), None);
        assert_eq!(positive_number(OsStr::new("-5")), None);
        assert_eq!(positive_number(OsStr::new("abc")), None);
        assert_eq!(positive_number(OsStr::new(" 1500 ")), Some(1500.0));
        assert_eq!(positive_number(OsStr::new("1e3")), Some(1000.0));
        assert_eq!(positive_number(OsStr::new("0x10")), Some(16.0));
    }

    #[test]
    fn joins_like_node() {
        assert_eq!(
            join(OsStr::new(""), OsStr::new("stdin")),
            PathBuf::from("stdin")
        );
        assert_eq!(
            join(OsStr::new("/tmp/c/"), OsStr::new("stdin")),
            PathBuf::from("/tmp/c/stdin")
        );
        assert_eq!(join(OsStr::new("/"), OsStr::new("/x")), PathBuf::from("/x"));
    }
}
