//! The libc calls std does not wrap, declared by hand (they resolve against the static libc).

use std::os::raw::{c_char, c_int, c_long, c_ulong};

#[repr(C)]
pub struct TimeVal {
    pub sec: c_long,
    pub usec: c_long,
}

/// `struct rusage` as Linux lays it out: two timevals, then 14 longs (`ru_maxrss`, in KiB, first).
#[repr(C)]
pub struct RUsage {
    pub utime: TimeVal,
    pub stime: TimeVal,
    pub maxrss: c_long,
    pub rest: [c_long; 13],
}

#[repr(C)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
    pub xpixel: u16,
    pub ypixel: u16,
}

#[repr(C)]
pub struct PollFd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

pub const POLLIN: i16 = 1;

#[repr(C)]
pub struct TimeSpec {
    pub sec: c_long,
    pub nsec: c_long,
}

extern "C" {
    pub fn kill(pid: i32, sig: c_int) -> c_int;
    pub fn setsid() -> i32;
    pub fn wait4(pid: i32, status: *mut c_int, options: c_int, usage: *mut RUsage) -> i32;
    pub fn posix_openpt(flags: c_int) -> c_int;
    pub fn grantpt(fd: c_int) -> c_int;
    pub fn unlockpt(fd: c_int) -> c_int;
    pub fn ptsname_r(fd: c_int, buf: *mut c_char, len: usize) -> c_int;
    pub fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    pub fn waitpid(pid: i32, status: *mut c_int, options: c_int) -> i32;
    pub fn poll(fds: *mut PollFd, n: c_ulong, timeout_ms: c_int) -> c_int;
    pub fn setresuid(r: u32, e: u32, s: u32) -> c_int;
    pub fn setresgid(r: u32, e: u32, s: u32) -> c_int;
    pub fn setgroups(n: usize, groups: *const u32) -> c_int;
    pub fn prctl(option: c_int, arg2: c_ulong, ...) -> c_int;
    pub fn signal(sig: c_int, handler: usize) -> usize;
    pub fn dup2(old: c_int, new: c_int) -> c_int;
    pub fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    pub fn utimensat(
        dirfd: c_int,
        path: *const c_char,
        times: *const TimeSpec,
        flags: c_int,
    ) -> c_int;
}

pub const O_RDWR: c_int = 2;
pub const O_NOCTTY: c_int = 0o400;
pub const O_NOFOLLOW: c_int = 0o400000;
pub const O_NONBLOCK: c_int = 0o4000;
pub const TIOCSCTTY: c_ulong = 0x540E;
pub const TIOCSWINSZ: c_ulong = 0x5414;
pub const TIOCGPGRP: c_ulong = 0x540F;
pub const AT_FDCWD: c_int = -100;
pub const AT_SYMLINK_NOFOLLOW: c_int = 0x100;
pub const SIGKILL: c_int = 9;

/// A signal's number from its name (`SIGINT` or `INT`); None for names the agent does not send.
pub fn signal_number(name: &str) -> Option<c_int> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        "WINCH" => 28,
        _ => return None,
    })
}

pub fn signal_name(sig: c_int) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return format!("SIG{}", sig),
    };
    name.to_string()
}

/// Waits for `pid` and returns (exit code, signal, cpu ms, peak RSS bytes).
pub fn wait_with_usage(pid: i32) -> (Option<i32>, Option<i32>, f64, u64) {
    let mut status: c_int = 0;
    let mut usage: RUsage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(4) {
            return (None, None, 0.0, 0);
        }
    }
    let cpu_ms = (usage.utime.sec + usage.stime.sec) as f64 * 1000.0
        + (usage.utime.usec + usage.stime.usec) as f64 / 1000.0;
    let peak = (usage.maxrss.max(0) as u64) * 1024;
    if status & 0x7f == 0 {
        (Some((status >> 8) & 0xff), None, cpu_ms, peak)
    } else {
        (None, Some(status & 0x7f), cpu_ms, peak)
    }
}

/// True when `fd` has something to read (or hung up) within `timeout_ms`.
pub fn readable_within(fd: c_int, timeout_ms: c_int) -> bool {
    let mut p = PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    };
    unsafe { poll(&mut p, 1, timeout_ms) > 0 }
}

/// True when `pid` has exited and waits to be reaped (its /proc stat state is `Z`); it is not reaped here.
pub fn is_zombie(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
        Ok(stat) => stat
            .rfind(')')
            .map_or(false, |at| stat[at + 1..].trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// The sandbox user's id once the agent split its identity (`--split-identity`), or -1.
static SANDBOX_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(-1);

/// Started as root (gVisor), the agent keeps `agent` as its real and saved uid/gid and acts with the
/// sandbox user's effective ids: files it creates belong to the sandbox user and its permission checks are
/// that user's, yet a program running as the sandbox user cannot signal it (the kernel compares the sender's
/// ids with the target's real and saved ones). Every capability is gone afterwards (no uid is 0, the
/// bounding set is emptied first).
pub fn split_identity(agent: u32, sandbox: u32) -> std::io::Result<()> {
    let check = |r: c_int| {
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    unsafe {
        // Empty the bounding set too (CAP_SETPCAP), so no program inherits one even there.
        for cap in 0..64 {
            prctl(24 /* PR_CAPBSET_DROP */, cap);
        }
        check(setgroups(0, std::ptr::null()))?;
        check(setresgid(agent, sandbox, agent))?;
        check(setresuid(agent, sandbox, agent))?;
    }
    SANDBOX_ID.store(sandbox as i64, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// In a child before exec: become the sandbox user entirely (allowed: it is the effective id already).
pub fn become_sandbox_user() -> std::io::Result<()> {
    let id = SANDBOX_ID.load(std::sync::atomic::Ordering::SeqCst);
    if id < 0 {
        return Ok(());
    }
    let id = id as u32;
    unsafe {
        if setresgid(id, id, id) != 0 || setresuid(id, id, id) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
