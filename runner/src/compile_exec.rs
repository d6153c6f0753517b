//! Running one stage's process for compile.rs: its own process group, framed output, wall time, an
//! optional process limit, and its own rusage (wait4), with the OOM kills its cgroup counted.

use super::super::{
    own_cgroup, pump, setpgid, signal_name, wait_for_exit, Event, Frames, GROUP, SIGKILL,
};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const RLIMIT_NPROC: i32 = 6;

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

/// `struct rusage` as Linux lays it out (two timevals, then 14 longs, `ru_maxrss` in KiB first).
#[repr(C)]
struct RUsage {
    utime: [std::os::raw::c_long; 2],
    stime: [std::os::raw::c_long; 2],
    maxrss: std::os::raw::c_long,
    rest: [std::os::raw::c_long; 13],
}

// agent/sys.rs declares wait4 with its own (identical) rusage struct; the module is private to the agent.
#[allow(clashing_extern_declarations)]
extern "C" {
    fn setrlimit(resource: i32, limit: *const RLimit) -> i32;
    fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut RUsage) -> i32;
}

/// What one stage's process did.
pub struct StageExit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub oom: bool,
    pub cpu_ms: u64,
    pub peak_bytes: u64,
    pub duration: Duration,
}

impl StageExit {
    pub fn status(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => 128 + SIGKILL,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.code == Some(0) && !self.timed_out && !self.oom
    }

    /// `<exit|-> <signal|-> <timedOut> <oom> <ms>`, the body of `k` and `r` frames.
    pub fn body(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.code.map_or_else(|| "-".to_string(), |c| c.to_string()),
            self.signal.map_or_else(|| "-".to_string(), signal_name),
            if self.timed_out { 1 } else { 0 },
            if self.oom { 1 } else { 0 },
            self.duration.as_millis()
        )
    }
}

/// The container's OOM-kill count (cgroup v2 `memory.events`), when the runner owns its cgroup.
fn oom_kills() -> Option<u64> {
    if !own_cgroup() {
        return None;
    }
    let text = fs::read_to_string("/sys/fs/cgroup/memory.events").ok()?;
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() == Some("oom_kill") {
            words.next()?.parse().ok()
        } else {
            None
        }
    })
}

/// True inside a user namespace other than the initial one: RLIMIT_NPROC then counts this pod's processes
/// of the uid only (kernel ≥ 5.14), not every process of uid 65534 on the node.
fn own_user_namespace() -> bool {
    let text = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
}

pub struct Stage<'a> {
    pub argv: &'a [OsString],
    pub stdin: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub max_output: Option<u64>,
    pub tags: (u8, u8),
    pub pids: Option<u64>,
}

/// Runs one stage's process in its own process group, framing its output, within its wall time.
pub fn execute(stage: Stage, frames: &Frames) -> Result<StageExit, String> {
    let program = stage.argv.first().ok_or("no program given")?;
    let mut cmd = Command::new(program);
    cmd.args(&stage.argv[1..])
        .stdin(if stage.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let pids = stage.pids.filter(|_| own_user_namespace());
    unsafe {
        cmd.pre_exec(move || {
            if setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(n) = pids {
                let limit = RLimit { cur: n, max: n };
                if setrlimit(RLIMIT_NPROC, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let ooms_before = oom_kills();
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {}", program.to_string_lossy(), e))?;
    let pid = child.id() as i32;
    GROUP.store(pid, Ordering::SeqCst);
    let (events, received) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    pump(
        stdout,
        stage.tags.0,
        stage.max_output,
        frames.clone(),
        events.clone(),
    );
    pump(
        stderr,
        stage.tags.1,
        stage.max_output,
        frames.clone(),
        events.clone(),
    );
    if let (Some(mut input), Some(path)) = (child.stdin.take(), stage.stdin) {
        thread::spawn(move || {
            if let Ok(mut file) = File::open(path) {
                let _ = io::copy(&mut file, &mut input);
            }
        });
    }
    // wait4 rather than Child::wait: the stage's own rusage, not every child's the runner ever had.
    let usage = Arc::new(Mutex::new((0u64, 0u64)));
    let (exited, measured) = (events.clone(), usage.clone());
    thread::spawn(move || {
        let mut status = 0;
        let mut ru: RUsage = unsafe { std::mem::zeroed() };
        while unsafe { wait4(pid, &mut status, 0, &mut ru) } != pid {
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                let _ = exited.send(Event::Exited(Err(io::Error::last_os_error())));
                return;
            }
        }
        let micros = |t: [std::os::raw::c_long; 2]| (t[0] as u64) * 1_000_000 + t[1] as u64;
        let cpu_ms = (micros(ru.utime) + micros(ru.stime)) / 1000;
        if let Ok(mut m) = measured.lock() {
            *m = (cpu_ms, (ru.maxrss.max(0) as u64) * 1024);
        }
        let _ = exited.send(Event::Exited(Ok(ExitStatus::from_raw(status))));
    });
    drop(events);
    let (status, timed_out) = wait_for_exit(received, stage.timeout.map(|t| Instant::now() + t));
    GROUP.store(0, Ordering::SeqCst);
    let duration = started.elapsed();
    let (cpu_ms, peak_bytes) = *usage.lock().map_err(|_| "usage lock poisoned")?;
    let oom = matches!((ooms_before, oom_kills()), (Some(a), Some(b)) if b > a);
    let (code, signal) = match status {
        Some(Ok(status)) => (status.code(), status.signal()),
        _ => (None, None),
    };
    Ok(StageExit {
        code,
        signal,
        timed_out,
        oom,
        cpu_ms,
        peak_bytes,
        duration,
    })
}
