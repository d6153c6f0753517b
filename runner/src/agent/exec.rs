//! exec: one program in its own session and process group, its output streamed as frames, its usage
//! measured with wait4, its wall time bounded (docs/sandboxes.md "exec").

use super::frame::Sender;
use super::json::{num, obj, string, Json};
use super::paths::AgentError;
use super::sys;
use super::{Shared, Task};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const READ_BYTES: usize = 64 * 1024;
/// After the program exited, how long a background process it left may keep its pipes open before the
/// exec is reported finished (its later output is dropped; it keeps running).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// The sandbox cgroup's OOM kill count where the agent can read it (cgroup v2 namespace root).
fn oom_kills() -> Option<u64> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/memory.events").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

pub fn start(
    id: u64,
    request: &Json,
    shared: &Arc<Shared>,
    out: &Sender,
) -> Result<(), AgentError> {
    let argv = request
        .strings_of("argv")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            AgentError::new(
                "invalid_request",
                "exec needs argv, a non-empty array of strings".to_string(),
            )
        })?;
    let cwd = shared
        .ws
        .resolve(request.str_of("cwd").unwrap_or(""), true)?;
    let timeout = request
        .u64_of("timeoutMs")
        .filter(|t| *t > 0)
        .map(Duration::from_millis);
    let max_output = request.u64_of("maxOutputBytes").unwrap_or(u64::MAX);
    let with_stdin = request.bool_of("stdin");

    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .envs(shared.env_for(&request.string_map_of("env")))
        .current_dir(&cwd)
        .stdin(if with_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    unsafe {
        command.pre_exec(|| {
            sys::setsid();
            sys::become_sandbox_user()
        });
    }
    let oom_before = oom_kills();
    let started = Instant::now();
    // Held until the exec is registered: the orphan reaper must never take this child's exit status.
    let spawning = shared.spawn_lock.lock().unwrap();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            // As a shell answers: the program's absence is an exit status, not a broken request.
            let message = format!("crucible-runner: {}: {}\n", argv[0], error);
            out.send(
                &obj(vec![
                    ("id", num(id as f64)),
                    ("type", string("output")),
                    ("stream", string("stderr")),
                ]),
                message.as_bytes(),
            );
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            out.send(
                &exit_header(id, Some(code), None, false, false, false, 0.0, 0.0, 0),
                &[],
            );
            return Ok(());
        }
    };
    let pid = child.id() as i32;
    let stdin_tx = child.stdin.take().map(|mut stdin| {
        let (tx, rx) = mpsc::channel::<Option<Vec<u8>>>();
        thread::spawn(move || {
            while let Ok(Some(chunk)) = rx.recv() {
                if stdin.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        tx
    });
    shared.tasks.lock().unwrap().insert(
        id,
        Task::Exec {
            pgid: pid,
            stdin: stdin_tx,
        },
    );
    drop(spawning);

    // `closed` is held while a frame of this exec is sent, so no output frame can follow its exit frame.
    let closed = Arc::new(Mutex::new(false));
    let truncated = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let pipes: Vec<(Box<dyn Read + Send>, &str)> = vec![
        (Box::new(child.stdout.take().unwrap()), "stdout"),
        (Box::new(child.stderr.take().unwrap()), "stderr"),
    ];
    for (mut pipe, stream) in pipes {
        let (out, closed, truncated, done_tx) = (
            out.clone(),
            closed.clone(),
            truncated.clone(),
            done_tx.clone(),
        );
        let header = obj(vec![
            ("id", num(id as f64)),
            ("type", string("output")),
            ("stream", string(stream)),
        ]);
        thread::spawn(move || {
            let mut buf = vec![0u8; READ_BYTES];
            let mut used: u64 = 0;
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let room = max_output.saturating_sub(used).min(n as u64) as usize;
                if room < n {
                    truncated.store(true, Ordering::SeqCst);
                }
                used += room as u64;
                if room > 0 {
                    let closed = closed.lock().unwrap();
                    if !*closed {
                        out.send(&header, &buf[..room]);
                    }
                }
            }
            let _ = done_tx.send(());
        });
    }
    drop(done_tx);

    let shared = shared.clone();
    let out = out.clone();
    thread::spawn(move || {
        let timed_out = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        if let Some(limit) = timeout {
            let timed_out = timed_out.clone();
            thread::spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(limit) {
                    timed_out.store(true, Ordering::SeqCst);
                    unsafe {
                        sys::kill(-pid, sys::SIGKILL);
                    }
                }
            });
        }
        let (code, signal, cpu_ms, peak) = sys::wait_with_usage(pid);
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        let _ = stop_tx.send(());
        drop(child);
        let deadline = Instant::now() + DRAIN_GRACE;
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        let oom = signal == Some(sys::SIGKILL)
            && !timed_out.load(Ordering::SeqCst)
            && matches!((oom_before, oom_kills()), (Some(a), Some(b)) if b > a);
        shared.tasks.lock().unwrap().remove(&id);
        let mut closed = closed.lock().unwrap();
        *closed = true;
        out.send(
            &exit_header(
                id,
                code,
                signal,
                timed_out.load(Ordering::SeqCst),
                oom,
                truncated.load(Ordering::SeqCst),
                wall_ms,
                cpu_ms,
                peak,
            ),
            &[],
        );
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn exit_header(
    id: u64,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    oom: bool,
    truncated: bool,
    wall_ms: f64,
    cpu_ms: f64,
    peak: u64,
) -> Json {
    obj(vec![
        ("id", num(id as f64)),
        ("type", string("exit")),
        ("code", code.map_or(Json::Null, |c| num(c))),
        (
            "signal",
            signal.map_or(Json::Null, |s| Json::Str(sys::signal_name(s))),
        ),
        ("timedOut", Json::Bool(timed_out)),
        ("oomKilled", Json::Bool(oom)),
        ("truncated", Json::Bool(truncated)),
        ("wallMs", num((wall_ms * 1000.0).round() / 1000.0)),
        ("cpuMs", num((cpu_ms * 1000.0).round() / 1000.0)),
        ("peakMemoryBytes", num(peak as f64)),
    ])
}
