//! Terminal signals where the kernel does not produce them (`--pty-signals`, gVisor 20221219): its pty line
//! discipline does not turn a typed Ctrl-C into SIGINT, and it answers TIOCGPGRP only to a process whose
//! controlling terminal the pty is. So each shell runs under a small session helper (this binary again,
//! `agent --pty-session -- ARGV`): the session leader, holding the pty as its controlling terminal, that
//! starts the shell, tells the agent the foreground process group over a socket (fd 3), and exits as the
//! shell did. The agent reads the terminal's own settings (ISIG and the INTR/QUIT/SUSP characters) and turns
//! those characters in the keys it writes into the signals a Linux line discipline would send.

use super::sys;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::io::FromRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The query socket of each session helper, by the helper's pid (the PTY task's pid).
static QUERIES: OnceLock<Mutex<HashMap<i32, UnixStream>>> = OnceLock::new();

pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

fn queries() -> &'static Mutex<HashMap<i32, UnixStream>> {
    QUERIES.get_or_init(|| Mutex::new(HashMap::new()))
}

pub fn register(helper: i32, socket: UnixStream) {
    let _ = socket.set_read_timeout(Some(Duration::from_millis(500)));
    queries().lock().unwrap().insert(helper, socket);
}

pub fn forget(helper: i32) {
    queries().lock().unwrap().remove(&helper);
}

/// The foreground process group, asked of the session helper of `helper`'s terminal.
pub fn foreground_of(helper: i32) -> Option<i32> {
    let mut map = queries().lock().unwrap();
    let socket = map.get_mut(&helper)?;
    socket.write_all(&[1]).ok()?;
    let mut answer = [0u8; 4];
    socket.read_exact(&mut answer).ok()?;
    let group = i32::from_be_bytes(answer);
    if group > 0 {
        Some(group)
    } else {
        None
    }
}

/// `struct termios` of the Linux kernel (TCGETS): four u32 flags, the line discipline, 19 control chars.
#[repr(C)]
struct Termios {
    iflag: u32,
    oflag: u32,
    cflag: u32,
    lflag: u32,
    line: u8,
    cc: [u8; 19],
}

const TCGETS: std::os::raw::c_ulong = 0x5401;
const ISIG: u32 = 0o1;
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VSUSP: usize = 10;

/// Writes keys to the master, turning the terminal's INTR/QUIT/SUSP characters into SIGINT/SIGQUIT/SIGTSTP
/// for the foreground group (and dropping them, as a Linux line discipline does) while ISIG is on.
pub fn write_keys(
    master: &mut std::fs::File,
    fd: i32,
    helper: i32,
    keys: &[u8],
) -> std::io::Result<()> {
    let mut t = Termios {
        iflag: 0,
        oflag: 0,
        cflag: 0,
        lflag: 0,
        line: 0,
        cc: [0; 19],
    };
    if unsafe { sys::ioctl(fd, TCGETS, &mut t as *mut Termios) } != 0 || t.lflag & ISIG == 0 {
        return master.write_all(keys);
    }
    let signal_of = |c: u8| {
        [(VINTR, "SIGINT"), (VQUIT, "SIGQUIT"), (VSUSP, "SIGTSTP")]
            .iter()
            .find(|(i, _)| t.cc[*i] != 0 && t.cc[*i] == c)
            .and_then(|(_, name)| sys::signal_number(name))
    };
    let mut start = 0;
    for (i, &c) in keys.iter().enumerate() {
        if let Some(sig) = signal_of(c) {
            master.write_all(&keys[start..i])?;
            super::pty::signal_foreground(fd, helper, sig);
            start = i + 1;
        }
    }
    master.write_all(&keys[start..])
}

/// `agent --pty-session -- ARGV`: runs as the session leader the agent made (setsid and TIOCSCTTY were done
/// before exec), starts the shell on the same terminal, answers foreground-group queries on fd 3, and
/// exits as the shell did.
pub fn session_main(argv: &[OsString]) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        return 127;
    };
    // A close-on-exec copy, so the shell never holds the query socket; fd 3 itself is closed.
    let inherited = unsafe { UnixStream::from_raw_fd(3) };
    let query = inherited.try_clone().ok();
    drop(inherited);
    let mut shell = match Command::new(program).args(args).spawn() {
        Ok(shell) => shell,
        Err(error) => {
            eprintln!("crucible-runner: {:?}: {}", program, error);
            return 127;
        }
    };
    if let Some(mut socket) = query {
        thread::spawn(move || {
            let mut ask = [0u8; 1];
            while socket.read_exact(&mut ask).is_ok() {
                let mut group: i32 = -1;
                if unsafe { sys::ioctl(0, sys::TIOCGPGRP, &mut group as *mut i32) } != 0 {
                    group = -1;
                }
                if socket.write_all(&group.to_be_bytes()).is_err() {
                    break;
                }
            }
        });
    }
    match shell.wait() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => unsafe {
                // Die of the same signal, so the agent reports it as the shell's.
                sys::signal(sig, 0);
                sys::kill(std::process::id() as i32, sig);
                128 + sig
            },
            _ => 1,
        },
        Err(_) => 1,
    }
}
