//! `/artifacts` after the program ended (docs/artifacts.md, "Kubernetes"): the runner walks the directory and
//! streams its regular files into the log, framed like the output, before the exit frame:
//!
//! ```text
//! a <seq> <name base64> <size>                 a regular file begins; its bytes follow in `d` frames
//! d <seq> <base64>                             up to 8 KiB of the current file
//! A <seq> <name base64> <size> <reason>        an entry not sent: over_cap, too_many, not_regular_file
//! ```
//!
//! A file ends at the next frame that is not `d`. Names are paths below the directory, `/`-separated, as
//! bytes. The program may have left processes outside its killed process group that keep changing the tree,
//! so nothing here follows a path it controls: each directory is held open by descriptor and its entries
//! are opened relative to it with `O_NOFOLLOW` (a symlink fails with ELOOP and is reported, never read), a
//! file is read only after `fstat` on the opened descriptor says it is regular, and never past the size
//! announced. Listing goes through `/proc/self/fd/<dir>`, which names the opened directory itself.

use crate::Frames;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::Path;

extern "C" {
    fn openat(dirfd: i32, path: *const c_char, flags: i32, ...) -> i32;
}

const O_NONBLOCK: i32 = 0o4000;
const O_CLOEXEC: i32 = 0o2000000;
// arm and arm64 number these two differently from the generic (x86, riscv…) values.
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const O_DIRECTORY: i32 = 0o40000;
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const O_NOFOLLOW: i32 = 0o100000;
#[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECTORY: i32 = 0o200000;
#[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
const O_NOFOLLOW: i32 = 0o400000;

/// As the service's limit (src/core/artifacts.ts, MAX_ARTIFACT_FILES): more are reported, not sent.
const MAX_FILES: usize = 1000;
/// Deeper directories are reported as `too_many` instead of opened (each level holds a descriptor).
const MAX_DEPTH: usize = 32;
const DATA_BYTES: usize = 8 * 1024;

struct Walk<'a> {
    frames: &'a Frames,
    /// Bytes that may still be sent.
    room: u64,
    sent: usize,
}

/// Sends the regular files under `dir` within `max_bytes` in all (name order, depth first, as `tar
/// --sort=name` lists them). A missing or unreadable `dir` sends nothing.
pub fn collect(frames: &Frames, dir: &Path, max_bytes: u64) {
    let path = match CString::new(dir.as_os_str().as_bytes()) {
        Ok(path) => path,
        Err(_) => return,
    };
    let fd = unsafe { openat(-100, path.as_ptr(), O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let root = unsafe { File::from_raw_fd(fd) };
    let mut walk = Walk {
        frames,
        room: max_bytes,
        sent: 0,
    };
    walk.dir(&root, &[], 0);
}

fn name_field(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() / 3 * 4 + 4);
    crate::base64_encode(name, &mut out);
    out
}

impl<'a> Walk<'a> {
    fn dropped(&self, name: &[u8], size: u64, reason: &str) {
        let mut body = name_field(name);
        body.extend_from_slice(format!(" {} {}", size, reason).as_bytes());
        self.frames.write(b'A', &body, false);
    }

    fn dir(&mut self, dir: &File, prefix: &[u8], depth: usize) {
        let listing = format!("/proc/self/fd/{}", dir.as_raw_fd());
        let mut names: Vec<Vec<u8>> = match fs::read_dir(&listing) {
            Ok(read) => read
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().as_bytes().to_vec())
                .collect(),
            Err(_) => return,
        };
        names.sort();
        for name in names {
            let mut full = prefix.to_vec();
            if !full.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(&name);
            self.entry(dir, &name, &full, depth);
        }
    }

    fn entry(&mut self, dir: &File, name: &[u8], full: &[u8], depth: usize) {
        let c_name = match CString::new(name) {
            Ok(c_name) => c_name,
            Err(_) => return,
        };
        // Never blocks (a FIFO), never follows (a symlink: ELOOP), never a controlling terminal.
        let fd = unsafe {
            openat(
                dir.as_raw_fd(),
                c_name.as_ptr(),
                O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
            )
        };
        if fd < 0 {
            // A symlink, a socket, or something that vanished: reported, not read.
            self.dropped(full, 0, "not_regular_file");
            return;
        }
        let file = unsafe { File::from_raw_fd(fd) };
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(_) => return self.dropped(full, 0, "not_regular_file"),
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                return self.dropped(full, 0, "too_many");
            }
            // Reopened as a directory relative to the same parent, so a swap in between cannot redirect it.
            let dir_fd = unsafe {
                openat(
                    dir.as_raw_fd(),
                    c_name.as_ptr(),
                    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                )
            };
            if dir_fd < 0 {
                return self.dropped(full, 0, "not_regular_file");
            }
            let sub = unsafe { File::from_raw_fd(dir_fd) };
            drop(file);
            return self.dir(&sub, full, depth + 1);
        }
        if !kind.is_file() {
            return self.dropped(full, 0, "not_regular_file");
        }
        let size = meta.len();
        if self.sent >= MAX_FILES {
            return self.dropped(full, size, "too_many");
        }
        if size > self.room {
            return self.dropped(full, size, "over_cap");
        }
        self.send(file, full, size);
    }

    fn send(&mut self, file: File, full: &[u8], size: u64) {
        let mut body = name_field(full);
        body.extend_from_slice(format!(" {}", size).as_bytes());
        self.frames.write(b'a', &body, false);
        self.sent += 1;
        self.room -= size;
        // At most the size announced: a file something keeps appending to cannot stretch the log.
        let mut reader = file.take(size);
        let mut buf = vec![0u8; DATA_BYTES];
        let mut encoded = Vec::with_capacity(DATA_BYTES / 3 * 4 + 4);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            encoded.clear();
            crate::base64_encode(&buf[..n], &mut encoded);
            self.frames.write(b'd', &encoded, false);
        }
    }
}
