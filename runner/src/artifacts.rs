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
//!
//! A graded run (compile.rs, `--tests`) collects after each test with the name prefix `tests/<n>/` and then
//! empties the directory (`clear`), as the local backend gives each test a fresh `/artifacts`; the cap and
//! the file count (`Allowance`) run across the tests, as the service's sink counts one evaluation's files.

use crate::Frames;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::Path;

extern "C" {
    fn openat(dirfd: i32, path: *const c_char, flags: i32, ...) -> i32;
    fn unlinkat(dirfd: i32, path: *const c_char, flags: i32) -> i32;
}

const AT_FDCWD: i32 = -100;
const AT_REMOVEDIR: i32 = 0x200;

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

/// What may still be sent: bytes and files, shared by every collection of one run.
pub struct Allowance {
    room: u64,
    sent: usize,
}

impl Allowance {
    pub fn new(max_bytes: u64) -> Allowance {
        Allowance {
            room: max_bytes,
            sent: 0,
        }
    }
}

struct Walk<'a> {
    frames: &'a Frames,
    allowance: &'a mut Allowance,
}

fn open_root(dir: &Path) -> Option<File> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let fd = unsafe {
        openat(
            AT_FDCWD,
            path.as_ptr(),
            O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        )
    };
    if fd < 0 {
        None
    } else {
        Some(unsafe { File::from_raw_fd(fd) })
    }
}

/// Sends the regular files under `dir` within `max_bytes` in all (name order, depth first, as `tar
/// --sort=name` lists them). A missing or unreadable `dir` sends nothing.
pub fn collect(frames: &Frames, dir: &Path, max_bytes: u64) {
    collect_within(frames, dir, b"", &mut Allowance::new(max_bytes));
}

/// As `collect`, each name after `prefix` (`tests/2/`), within what `allowance` has left.
pub fn collect_within(frames: &Frames, dir: &Path, prefix: &[u8], allowance: &mut Allowance) {
    if let Some(root) = open_root(dir) {
        let mut walk = Walk { frames, allowance };
        walk.dir(&root, prefix, 0);
    }
}

/// Empties `dir` (its entries, not itself) without following anything the program made: each entry is
/// removed relative to its open parent, a subdirectory is emptied through its own descriptor (made
/// writable first: the program may have made it read-only). Best effort: what cannot be removed stays
/// (a tree deeper than twice the walk's depth, an entry a stray process keeps re-creating).
pub fn clear(dir: &Path) {
    if let Some(root) = open_root(dir) {
        clear_dir(&root, 0);
    }
}

fn clear_dir(dir: &File, depth: usize) {
    for name in listing(dir) {
        let c_name = match CString::new(name) {
            Ok(c_name) => c_name,
            Err(_) => continue,
        };
        if unsafe { unlinkat(dir.as_raw_fd(), c_name.as_ptr(), 0) } == 0
            || depth + 1 >= 2 * MAX_DEPTH
        {
            continue;
        }
        // Not removable as a file: a directory (EISDIR), reopened without following a swapped-in link.
        let fd = unsafe {
            openat(
                dir.as_raw_fd(),
                c_name.as_ptr(),
                O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
            )
        };
        if fd < 0 {
            continue;
        }
        let sub = unsafe { File::from_raw_fd(fd) };
        let _ = sub.set_permissions(fs::Permissions::from_mode(0o700));
        clear_dir(&sub, depth + 1);
        drop(sub);
        unsafe { unlinkat(dir.as_raw_fd(), c_name.as_ptr(), AT_REMOVEDIR) };
    }
}

/// The names in an open directory (through `/proc/self/fd`, which names the directory itself), sorted.
fn listing(dir: &File) -> Vec<Vec<u8>> {
    let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let mut names: Vec<Vec<u8>> = match fs::read_dir(&path) {
        Ok(read) => read
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().as_bytes().to_vec())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
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

    /// `prefix` is the names' start so far: empty, `tests/2/`, or a parent's name and its `/`.
    fn dir(&mut self, dir: &File, prefix: &[u8], depth: usize) {
        for name in listing(dir) {
            let mut full = prefix.to_vec();
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
            let mut prefix = full.to_vec();
            prefix.push(b'/');
            return self.dir(&sub, &prefix, depth + 1);
        }
        if !kind.is_file() {
            return self.dropped(full, 0, "not_regular_file");
        }
        let size = meta.len();
        if self.allowance.sent >= MAX_FILES {
            return self.dropped(full, size, "too_many");
        }
        if size > self.allowance.room {
            return self.dropped(full, size, "over_cap");
        }
        self.send(file, full, size);
    }

    fn send(&mut self, file: File, full: &[u8], size: u64) {
        let mut body = name_field(full);
        body.extend_from_slice(format!(" {}", size).as_bytes());
        self.frames.write(b'a', &body, false);
        self.allowance.sent += 1;
        self.allowance.room -= size;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clear_empties_the_directory_and_follows_no_link() {
        let base = std::env::temp_dir().join(format!("crucible-clear-{}", std::process::id()));
        let (dir, outside) = (base.join("artifacts"), base.join("outside"));
        fs::create_dir_all(dir.join("deep/er")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep.txt"), b"keep").unwrap();
        fs::write(dir.join("r.txt"), b"x").unwrap();
        fs::write(dir.join("deep/er/f"), b"y").unwrap();
        symlink(&outside, dir.join("link")).unwrap();
        symlink(&outside, dir.join("deep/link")).unwrap();
        // A directory the program made read-only is still emptied.
        fs::set_permissions(dir.join("deep"), fs::Permissions::from_mode(0o500)).unwrap();
        clear(&dir);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert_eq!(fs::read(outside.join("keep.txt")).unwrap(), b"keep");
        fs::remove_dir_all(&base).unwrap();
    }
}
