//! PTY sessions: a shell on a pseudo-terminal, its bytes streamed as frames (docs/sandboxes.md "pty").

use super::frame::Sender;
use super::json::{num, obj, string, Json};
use super::paths::AgentError;
use super::pty_signals;
use super::sys;
use super::{Shared, Task};
use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::raw::c_char;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

pub fn set_size(fd: i32, cols: u16, rows: u16) {
    let size = sys::WinSize {
        rows,
        cols,
        xpixel: 0,
        ypixel: 0,
    };
    unsafe {
        sys::ioctl(fd, sys::TIOCSWINSZ, &size as *const sys::WinSize);
    }
}

/// Sends `sig` to the terminal's foreground process group (what Ctrl-C reaches), else the shell's group.
/// Linux answers TIOCGPGRP on the master; gVisor only to the session (pty_signals.rs asks its helper).
pub fn signal_foreground(master: i32, shell: i32, sig: i32) {
    let mut group: i32 = 0;
    let found =
        unsafe { sys::ioctl(master, sys::TIOCGPGRP, &mut group as *mut i32) } == 0 && group > 0;
    let group = if found {
        Some(group)
    } else {
        pty_signals::foreground_of(shell)
    };
    unsafe {
        sys::kill(-group.unwrap_or(shell), sig);
    }
}

fn open_pair() -> Result<(File, File), AgentError> {
    let fail = |what: &str| {
        AgentError::new(
            "io_error",
            format!("{}: {}", what, std::io::Error::last_os_error()),
        )
    };
    let master = unsafe { sys::posix_openpt(sys::O_RDWR | sys::O_NOCTTY) };
    if master < 0 {
        return Err(fail("posix_openpt"));
    }
    let master_file = unsafe { File::from_raw_fd(master) };
    if unsafe { sys::grantpt(master) } != 0 || unsafe { sys::unlockpt(master) } != 0 {
        return Err(fail("grantpt/unlockpt"));
    }
    let mut name = [0 as c_char; 128];
    if unsafe { sys::ptsname_r(master, name.as_mut_ptr(), name.len()) } != 0 {
        return Err(fail("ptsname"));
    }
    let path = unsafe { CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    // O_NOCTTY: the agent is a session leader (the sandbox's PID 1) and must not take the terminal itself.
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(sys::O_NOCTTY)
        .open(&path)
        .map_err(|e| AgentError::new("io_error", format!("open {}: {}", path, e)))?;
    Ok((master_file, slave))
}

pub fn open(
    id: u64,
    request: &Json,
    shared: &Arc<Shared>,
    out: &Sender,
) -> Result<Json, AgentError> {
    let argv = request
        .strings_of("argv")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| vec!["/bin/bash".to_string(), "-i".to_string()]);
    let cwd = shared
        .ws
        .resolve(request.str_of("cwd").unwrap_or(""), true)?;
    let cols = request.u64_of("cols").unwrap_or(80).clamp(1, 1000) as u16;
    let rows = request.u64_of("rows").unwrap_or(24).clamp(1, 1000) as u16;
    let (master, slave) = open_pair()?;
    set_size(master.as_raw_fd(), cols, rows);
    let mut env = shared.env_for(&request.string_map_of("env"));
    env.push(("TERM".to_string(), "xterm-256color".to_string()));
    let stdio = |f: &File| f.try_clone().map(Stdio::from);
    let io_error = |e: std::io::Error| AgentError::new("io_error", format!("pty: {}", e));
    // With --pty-signals the shell runs under the session helper (pty_signals.rs), reached on fd 3.
    let (mut command, helper_socket) = if pty_signals::enabled() {
        let (ours, theirs) = UnixStream::pair().map_err(io_error)?;
        let mut command = Command::new(std::env::current_exe().map_err(io_error)?);
        command.args(["agent", "--pty-session", "--"]).args(&argv);
        (command, Some((ours, theirs)))
    } else {
        (Command::new(&argv[0]), None)
    };
    if helper_socket.is_none() {
        command.args(&argv[1..]);
    }
    let helper_fd = helper_socket.as_ref().map(|(_, theirs)| theirs.as_raw_fd());
    command
        .env_clear()
        .envs(env)
        .current_dir(&cwd)
        .stdin(stdio(&slave).map_err(io_error)?)
        .stdout(stdio(&slave).map_err(io_error)?)
        .stderr(stdio(&slave).map_err(io_error)?);
    unsafe {
        command.pre_exec(move || {
            // A new session whose controlling terminal is the slave (fd 0 by now).
            sys::setsid();
            if sys::ioctl(0, sys::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = helper_fd {
                // dup2 clears close-on-exec (F_SETFD 0 when it is fd 3 already): the helper gets its end
                // of the socket as fd 3.
                let moved = if fd == 3 {
                    sys::fcntl(3, 2, 0)
                } else {
                    sys::dup2(fd, 3)
                };
                if moved < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            sys::become_sandbox_user()
        });
    }
    let spawning = shared.spawn_lock.lock().unwrap();
    let child = command
        .spawn()
        .map_err(|e| AgentError::new("not_found", format!("pty {}: {}", argv[0], e)))?;
    drop(slave);
    let pid = child.id() as i32;
    if let Some((ours, _theirs)) = helper_socket {
        pty_signals::register(pid, ours);
    }
    let master_fd = master.as_raw_fd();
    let mut writer = master.try_clone().map_err(io_error)?;
    let (input_tx, input_rx) = mpsc::channel::<Vec<u8>>();
    // Keys go through a thread of their own: a shell that stops reading must not stall the connection.
    thread::spawn(move || {
        while let Ok(chunk) = input_rx.recv() {
            let written = if pty_signals::enabled() {
                pty_signals::write_keys(&mut writer, master_fd, pid, &chunk)
            } else {
                writer.write_all(&chunk)
            };
            if written.is_err() {
                break;
            }
        }
    });
    shared.tasks.lock().unwrap().insert(
        id,
        Task::Pty {
            pid,
            master: master_fd,
            input: input_tx,
        },
    );
    drop(spawning);
    let (shared, out) = (shared.clone(), out.clone());
    let mut reader = master;
    thread::spawn(move || {
        let header = obj(vec![("id", num(id as f64)), ("type", string("pty_output"))]);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // Linux: EIO once the last slave holder is gone. gVisor's master never reports it, so the
            // shell's own exit (a zombie nothing has reaped yet) also ends the session once output is drained.
            if !sys::readable_within(master_fd, 200) {
                if sys::is_zombie(pid) {
                    break;
                }
                continue;
            }
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.send(&header, &buf[..n]),
            }
        }
        let (code, signal, _, _) = sys::wait_with_usage(pid);
        pty_signals::forget(pid);
        drop(child);
        shared.tasks.lock().unwrap().remove(&id);
        out.send(
            &obj(vec![
                ("id", num(id as f64)),
                ("type", string("pty_exit")),
                ("code", code.map_or(Json::Null, |c| num(c))),
                (
                    "signal",
                    signal.map_or(Json::Null, |s| Json::Str(sys::signal_name(s))),
                ),
            ]),
            &[],
        );
        drop(reader);
    });
    Ok(obj(vec![("type", string("ok")), ("pid", num(pid))]))
}
