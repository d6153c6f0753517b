//! `crucible-runner agent`: the process inside an interactive sandbox that does everything the sandbox's
//! user asks — exec, files, PTY, workspace archive and restore — speaking the framed protocol of
//! docs/sandboxes.md on stdin/stdout (diagnostics on stderr). It runs as the sandbox user, so host code
//! never touches a path the sandbox controls.
//!
//! Usage: crucible-runner agent [--workspace DIR] [--split-identity AGENT:SANDBOX] [--pty-signals]
//!   --workspace        default /workspace
//!   --split-identity   started as root (gVisor): act as SANDBOX_UID, stay unsignalable by it (sys.rs)
//!   --pty-signals      the agent makes Ctrl-C & co. into signals (gVisor's pty does not: pty_signals.rs)
//! `crucible-runner agent --pty-session -- ARGV` is the session helper of one shell (pty_signals.rs).

mod exec;
mod files;
mod frame;
mod json;
mod paths;
mod pty;
mod pty_signals;
mod sys;
mod tar;

use frame::Sender;
use json::{num, obj, string, Json};
use paths::{AgentError, Workspace};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

pub const PROTOCOL_VERSION: u32 = 1;
const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
const ARCHIVE_CHUNK: usize = 256 * 1024;

pub enum Task {
    Exec {
        pgid: i32,
        stdin: Option<mpsc::Sender<Option<Vec<u8>>>>,
    },
    Pty {
        pid: i32,
        master: i32,
        input: mpsc::Sender<Vec<u8>>,
    },
    Restore {
        chunks: mpsc::Sender<Option<Vec<u8>>>,
    },
}

pub struct Shared {
    pub ws: Workspace,
    pub tasks: Mutex<HashMap<u64, Task>>,
    /// Held from a child's spawn until its task is registered (see `reap_orphans`).
    pub spawn_lock: Mutex<()>,
    env: Mutex<Vec<(String, String)>>,
    max_file_bytes: AtomicU64,
}

impl Shared {
    /// The environment of an exec or PTY: the defaults, then `init`'s, then the request's own.
    pub fn env_for(&self, own: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".to_string(),
                "/opt/crucible/bin:/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            (
                "HOME".to_string(),
                self.ws.root.to_string_lossy().into_owned(),
            ),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        let base = self.env.lock().unwrap().clone();
        for (k, v) in base.into_iter().chain(own.iter().cloned()) {
            env.retain(|(name, _)| *name != k);
            env.push((k, v));
        }
        env
    }
}

fn error_frame(id: u64, e: &AgentError) -> Json {
    obj(vec![
        ("id", num(id as f64)),
        ("type", string("error")),
        ("code", string(e.code)),
        ("message", Json::Str(e.message.clone())),
    ])
}

fn with_id(id: u64, header: Json) -> Json {
    match header {
        Json::Obj(mut pairs) => {
            pairs.insert(0, ("id".to_string(), num(id as f64)));
            Json::Obj(pairs)
        }
        other => other,
    }
}

/// A restore's tar bytes as they arrive in `chunk` frames.
struct ChannelReader {
    rx: mpsc::Receiver<Option<Vec<u8>>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(Some(chunk)) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                _ => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn ok(id: u64) -> Json {
    obj(vec![("id", num(id as f64)), ("type", string("ok"))])
}

/// Handles one request; the long ones (exec, pty, archive, restore) continue on threads of their own.
fn dispatch(
    header: &Json,
    body: Vec<u8>,
    shared: &Arc<Shared>,
    out: &Sender,
) -> Result<Option<(Json, Vec<u8>)>, AgentError> {
    let id = header.u64_of("id").ok_or_else(|| {
        AgentError::new(
            "invalid_request",
            "a request needs a numeric id".to_string(),
        )
    })?;
    let op = header.str_of("op").unwrap_or("");
    let task_missing =
        || AgentError::new("invalid_request", format!("no open request with id {}", id));
    match op {
        "init" => {
            *shared.env.lock().unwrap() = header.string_map_of("env");
            if let Some(max) = header.u64_of("maxFileBytes") {
                shared
                    .max_file_bytes
                    .store(max.min(frame::MAX_BODY as u64), Ordering::SeqCst);
            }
            Ok(Some((ok(id), Vec::new())))
        }
        "read" | "write" | "delete" | "list" | "glob" | "grep" => {
            let files = files::Files {
                ws: &shared.ws,
                max_file_bytes: shared.max_file_bytes.load(Ordering::SeqCst),
            };
            files
                .handle(op, header, body)
                .map(|(h, b)| Some((with_id(id, h), b)))
        }
        "exec" => exec::start(id, header, shared, out).map(|_| None),
        // How many processes run in the sandbox besides the agent (its PID 1 included, when it is one):
        // whether hibernation has any to keep (gVisor's checkpoint).
        "processes" => {
            let me = std::process::id();
            let count = std::fs::read_dir("/proc")
                .map(|entries| {
                    entries
                        .flatten()
                        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
                        .filter(|pid| *pid != me)
                        .count()
                })
                .unwrap_or(0);
            Ok(Some((
                obj(vec![
                    ("id", num(id as f64)),
                    ("type", string("ok")),
                    ("count", num(count as f64)),
                ]),
                Vec::new(),
            )))
        }
        "stdin" => {
            let tasks = shared.tasks.lock().unwrap();
            match tasks.get(&id) {
                Some(Task::Exec {
                    stdin: Some(tx), ..
                }) => {
                    let _ = tx.send(if header.bool_of("eof") {
                        None
                    } else {
                        Some(body)
                    });
                    Ok(None)
                }
                Some(Task::Exec { stdin: None, .. }) => Ok(None),
                _ => Ok(None), // the exec already ended: its late stdin is dropped
            }
        }
        "pty_open" => {
            pty::open(id, header, shared, out).map(|h| Some((with_id(id, h), Vec::new())))
        }
        "pty_input" => {
            if let Some(Task::Pty { input, .. }) = shared.tasks.lock().unwrap().get(&id) {
                let _ = input.send(body);
            }
            Ok(None)
        }
        "pty_resize" => match shared.tasks.lock().unwrap().get(&id) {
            Some(Task::Pty { master, .. }) => {
                let cols = header.u64_of("cols").unwrap_or(80).clamp(1, 1000) as u16;
                let rows = header.u64_of("rows").unwrap_or(24).clamp(1, 1000) as u16;
                pty::set_size(*master, cols, rows);
                Ok(None)
            }
            _ => Err(task_missing()),
        },
        "signal" => {
            let name = header.str_of("signal").unwrap_or("SIGINT");
            let sig = sys::signal_number(name).ok_or_else(|| {
                AgentError::new("invalid_request", format!("unknown signal {:?}", name))
            })?;
            let target = header.u64_of("target").unwrap_or(id);
            match shared.tasks.lock().unwrap().get(&target) {
                Some(Task::Exec { pgid, .. }) => unsafe {
                    sys::kill(-*pgid, sig);
                },
                Some(Task::Pty { pid, master, .. }) => pty::signal_foreground(*master, *pid, sig),
                _ => return Err(task_missing()),
            }
            Ok(if target == id {
                None
            } else {
                Some((ok(id), Vec::new()))
            })
        }
        "archive" => {
            let (shared, out) = (shared.clone(), out.clone());
            thread::spawn(move || {
                let chunk_header = obj(vec![("id", num(id as f64)), ("type", string("chunk"))]);
                let result = tar::archive(&shared.ws, ARCHIVE_CHUNK, &mut |c| {
                    out.send(&chunk_header, c)
                });
                match result {
                    Ok(bytes) => out.send(
                        &obj(vec![
                            ("id", num(id as f64)),
                            ("type", string("ok")),
                            ("bytes", num(bytes as f64)),
                        ]),
                        &[],
                    ),
                    Err(e) => out.send(&error_frame(id, &e), &[]),
                }
            });
            Ok(None)
        }
        "restore" => {
            let (tx, rx) = mpsc::channel();
            shared
                .tasks
                .lock()
                .unwrap()
                .insert(id, Task::Restore { chunks: tx });
            let (shared, out) = (shared.clone(), out.clone());
            thread::spawn(move || {
                let mut reader = ChannelReader {
                    rx,
                    buf: Vec::new(),
                    at: 0,
                };
                let result = tar::restore(&shared.ws, &mut reader);
                // Drain what is still coming so the sender never blocks on a failed restore.
                while reader
                    .read(&mut [0u8; 4096])
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {}
                shared.tasks.lock().unwrap().remove(&id);
                match result {
                    Ok(entries) => out.send(
                        &obj(vec![
                            ("id", num(id as f64)),
                            ("type", string("ok")),
                            ("entries", num(entries as f64)),
                        ]),
                        &[],
                    ),
                    Err(e) => out.send(&error_frame(id, &e), &[]),
                }
            });
            Ok(None)
        }
        "chunk" => {
            if let Some(Task::Restore { chunks }) = shared.tasks.lock().unwrap().get(&id) {
                let _ = chunks.send(if header.bool_of("eof") {
                    None
                } else {
                    Some(body)
                });
            }
            Ok(None)
        }
        _ => Err(AgentError::new(
            "invalid_request",
            format!("unknown op {:?}", op),
        )),
    }
}

/// As PID 1 of the sandbox (bwrap --as-pid-1: a program's `kill(-1, SIGKILL)` cannot reach the agent) every
/// orphan is reparented to the agent: reap the zombies that are not an exec's or a PTY's own child (those
/// are waited for, with their usage, by their threads).
fn reap_orphans(shared: &Shared) {
    let _spawning = shared.spawn_lock.lock().unwrap();
    let known: Vec<i32> = shared
        .tasks
        .lock()
        .unwrap()
        .values()
        .filter_map(|t| match t {
            Task::Exec { pgid, .. } => Some(*pgid),
            Task::Pty { pid, .. } => Some(*pid),
            Task::Restore { .. } => None,
        })
        .collect();
    let entries = match std::fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(_) => return,
    };
    for entry in entries.flatten() {
        let pid: i32 = match entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            Some(pid) => pid,
            None => continue,
        };
        if pid == 1 || known.contains(&pid) {
            continue;
        }
        let stat = match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
            Ok(stat) => stat,
            Err(_) => continue,
        };
        // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
        let rest = match stat.rfind(')') {
            Some(at) => &stat[at + 1..],
            None => continue,
        };
        let mut fields = rest.split_whitespace();
        if fields.next() == Some("Z") && fields.next() == Some("1") {
            let mut status = 0;
            unsafe {
                sys::waitpid(pid, &mut status, 1);
            }
        }
    }
}

fn kill_everything(shared: &Shared) {
    for task in shared.tasks.lock().unwrap().values() {
        match task {
            Task::Exec { pgid, .. } => unsafe {
                sys::kill(-*pgid, sys::SIGKILL);
            },
            Task::Pty { pid, .. } => unsafe {
                sys::kill(-*pid, sys::SIGKILL);
            },
            Task::Restore { .. } => {}
        }
    }
}

/// Entry point of `crucible-runner agent`; returns the process's exit status.
pub fn main(args: &[OsString]) -> i32 {
    if args.first().map_or(false, |a| a == "--pty-session") {
        let argv = args.iter().skip_while(|a| *a != "--").skip(1).cloned();
        return pty_signals::session_main(&argv.collect::<Vec<_>>());
    }
    let mut workspace = PathBuf::from("/workspace");
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--workspace" {
            if let Some(dir) = args.get(i + 1) {
                workspace = PathBuf::from(dir);
            }
            i += 1;
        } else if args[i] == "--pty-signals" {
            pty_signals::enable();
        } else if args[i] == "--split-identity" {
            let ids: Vec<u32> = args
                .get(i + 1)
                .and_then(|a| a.to_str())
                .map(|a| a.split(':').filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_default();
            let split = match ids[..] {
                [agent, sandbox] => sys::split_identity(agent, sandbox),
                _ => Err(std::io::Error::from_raw_os_error(22)),
            };
            if let Err(e) = split {
                eprintln!("crucible-runner agent: --split-identity: {}", e);
                return 1;
            }
            i += 1;
        }
        i += 1;
    }
    let ws = match Workspace::new(&workspace) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("crucible-runner agent: workspace {:?}: {}", workspace, e);
            return 1;
        }
    };
    let shared = Arc::new(Shared {
        ws,
        tasks: Mutex::new(HashMap::new()),
        spawn_lock: Mutex::new(()),
        env: Mutex::new(Vec::new()),
        max_file_bytes: AtomicU64::new(DEFAULT_MAX_FILE_BYTES),
    });
    if std::process::id() == 1 {
        let shared = shared.clone();
        thread::spawn(move || loop {
            thread::sleep(std::time::Duration::from_millis(500));
            reap_orphans(&shared);
        });
    }
    let out = Sender::stdout();
    out.send(
        &obj(vec![
            ("id", num(0)),
            ("type", string("ready")),
            ("version", num(PROTOCOL_VERSION)),
            ("pid", num(std::process::id())),
        ]),
        &[],
    );
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let status = loop {
        match frame::read_frame(&mut input) {
            Ok(Some((header, body))) => {
                if header.str_of("op") == Some("shutdown") {
                    break 0;
                }
                let id = header.u64_of("id").unwrap_or(0);
                match dispatch(&header, body, &shared, &out) {
                    Ok(Some((h, b))) => out.send(&h, &b),
                    Ok(None) => {}
                    Err(e) => out.send(&error_frame(id, &e), &[]),
                }
            }
            Ok(None) => break 0,
            Err(e) => {
                eprintln!("crucible-runner agent: {}", e);
                break 2;
            }
        }
    };
    kill_everything(&shared);
    status
}
