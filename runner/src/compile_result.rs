//! The compile stage in its own init container (docs/kubernetes.md, "Compiled languages, files and tests").
//!
//! The init container (the language image, the compile stage's memory limit) runs the compiler with
//! `--compile-to FILE`: its `c` and `k` frames go to FILE on the pod's `/build` emptyDir instead of a log,
//! and it exits 0 whatever the compiler did, so the main container always runs. The main container (the
//! evaluation's memory limit, `/build` read-only) starts with `--compiled FILE`: it replays those frames
//! into its own log, renumbered, and ends at once after a failed compile. A compiler killed with its
//! container (an OOM on cgroup v2 nodes) leaves the init container failed, and the pod with it.

use super::super::Frames;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

extern "C" {
    fn dup2(old: i32, new: i32) -> i32;
}

/// Points the runner's stdout (where frames go) at `path`, created afresh.
pub fn redirect_frames(path: &Path) -> io::Result<()> {
    let file: File = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)?;
    if unsafe { dup2(file.as_raw_fd(), 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How the compile ended, from its `k` frame: None when it succeeded.
pub struct Failed {
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub timed_out: bool,
}

/// Re-emits the compile's `c` and `k` frames from `path`; Ok(None) after a successful compile, Ok(Some)
/// after a failed one, Err when there is no compile result at all.
pub fn replay(path: &Path, frames: &Frames) -> Result<Option<Failed>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("read '{}': {}", path.display(), e))?;
    let mut result = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (tag, _seq, body) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        match tag {
            Some("c") => frames.write(b'c', body.as_bytes(), false),
            Some("k") => {
                frames.write(b'k', body.as_bytes(), false);
                let words: Vec<&str> = body.split(' ').collect();
                let ok = words.first() == Some(&"0")
                    && words.get(1) == Some(&"-")
                    && words.get(2) == Some(&"0")
                    && words.get(3) == Some(&"0");
                result = Some(if ok {
                    None
                } else {
                    Some(Failed {
                        code: words.first().and_then(|w| w.parse().ok()),
                        signal: words.get(1).filter(|w| **w != "-").map(|w| w.to_string()),
                        timed_out: words.get(2) == Some(&"1"),
                    })
                });
            }
            _ => {}
        }
    }
    result.ok_or_else(|| format!("'{}' holds no compile result", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_a_failed_compile() {
        let path = std::env::temp_dir().join(format!("crucible-compiled-{}", std::process::id()));
        fs::write(&path, "c 1 ZXJy\nk 2 1 - 0 0 12\n").unwrap();
        let frames = Frames::new();
        let failed = replay(&path, &frames).unwrap().expect("failed");
        assert_eq!(failed.code, Some(1));
        fs::write(&path, "k 1 0 - 0 0 12\n").unwrap();
        assert!(replay(&path, &frames).unwrap().is_none());
        fs::write(&path, "").unwrap();
        assert!(replay(&path, &frames).is_err());
        fs::remove_file(&path).unwrap();
    }
}
