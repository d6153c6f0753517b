//! Staged runs: the compile stage and test cases of the Kubernetes backend (docs/kubernetes.md, "Compiled
//! languages, files and tests"). Without any of the flags below the runner takes the plain path of main.rs.
//!
//! ```text
//! crucible-runner … [--compile-args N --compile-timeout-ms T --compile-pids P --compile-max-output B]
//!                   [--compile-to FILE | --compiled FILE] [--tests K [--scratch DIR]] [--file KEY=PATH]…
//!                   -- COMPILER ARGS(N words) PROGRAM ARGS…
//! ```
//!
//! The first N words after `--` are the compiler's argv, the rest the program's. The compiler runs with its
//! own wall-time limit, process limit and output cap (its stdout and stderr, in the order written, as `c`
//! frames, then a `k` frame); its memory is its container's limit. The Kubernetes backend splits the two:
//! the compile init container runs with `--compile-to FILE` (compile only, frames to FILE, exit 0) and the
//! main container with `--compiled FILE` (replays them, then runs the program): compile_result.rs. A
//! failed compile ends the runner with the compiler's status. Then the program runs once (plain `o`/`e`
//! frames), or once per test with `test-NNN.stdin` as its stdin, each test opened by a `t` frame and closed
//! by an `r` frame; the `x` frame comes last, as always:
//!
//! ```text
//! c <seq> <base64>                                    compiler output (both streams)
//! k <seq> <exit|-> <signal|-> <timedOut> <oom> <ms>   the compile ended
//! t <seq> <index>                                     test <index> starts; its o/e frames follow
//! r <seq> <exit|-> <signal|-> <timedOut> <oom> <ms>   test <index> ended
//! ```
//!
//! With tests and `--artifacts DIR`, each test's files follow its `r` frame, named `tests/<n>/<name>` (n
//! from 1; artifacts.rs), and the directory is emptied before the next test.
//!
//! Usage in the `x` frame of a staged run is the program's own (wait4 of each run, summed CPU, largest
//! peak), never the compiler's. `oom` is 1 when the container's cgroup counted an OOM kill during the stage.

#[path = "compile_exec.rs"]
mod exec;
#[path = "compile_result.rs"]
mod result;

use super::{
    artifacts, assemble_payload, join, positive_number, signal_name, Budget, Frames, Options, Usage,
};
use exec::{execute, Stage, StageExit};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The staged flags; None from `parse` when none is present.
pub struct Staged {
    compile_args: usize,
    compile_timeout: Option<Duration>,
    compile_pids: Option<u64>,
    compile_max_output: Option<u64>,
    tests: usize,
    /// Payload file name → path below the workdir (ConfigMap keys cannot hold `/`).
    files: Vec<(OsString, OsString)>,
    /// The pod's scratch directory (`/tmp`): what a test leaves in it is removed before the next one.
    scratch: Option<PathBuf>,
    /// Init container: compile only, frames to this file (compile_result.rs).
    compile_to: Option<PathBuf>,
    /// Main container: the compile already ran, its frames are in this file.
    compiled: Option<PathBuf>,
}

/// Reads the staged flags (pairs before `--`, as main.rs's `parse_args` reads its own).
pub fn parse(argv: &[OsString]) -> Option<Staged> {
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let mut staged = Staged {
        compile_args: 0,
        compile_timeout: None,
        compile_pids: None,
        compile_max_output: None,
        tests: 0,
        files: Vec::new(),
        scratch: None,
        compile_to: None,
        compiled: None,
    };
    let mut seen = false;
    let mut i = 0;
    while i < end {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        let number = positive_number(&value);
        seen |= match argv[i].to_str() {
            Some("--compile-args") => {
                staged.compile_args = number.map_or(0, |n| n as usize);
                true
            }
            Some("--compile-timeout-ms") => {
                staged.compile_timeout =
                    number.map(|ms| Duration::from_secs_f64((ms / 1000.0).min(1e9)));
                true
            }
            Some("--compile-pids") => {
                staged.compile_pids = number.map(|n| n as u64);
                true
            }
            Some("--compile-max-output") => {
                staged.compile_max_output = number.map(|n| n.floor() as u64);
                true
            }
            Some("--compile-to") => {
                staged.compile_to = Some(PathBuf::from(&value));
                true
            }
            Some("--compiled") => {
                staged.compiled = Some(PathBuf::from(&value));
                true
            }
            Some("--scratch") => {
                staged.scratch = Some(PathBuf::from(&value));
                true
            }
            Some("--tests") => {
                staged.tests = number.map_or(0, |n| n as usize);
                true
            }
            Some("--file") => {
                let bytes = value.as_bytes();
                if let Some(eq) = bytes.iter().position(|b| *b == b'=') {
                    let key = OsStr::from_bytes(&bytes[..eq]).to_os_string();
                    let path = OsStr::from_bytes(&bytes[eq + 1..]).to_os_string();
                    staged.files.push((key, path));
                }
                true
            }
            _ => false,
        };
        i += 2;
    }
    if seen {
        Some(staged)
    } else {
        None
    }
}

/// Moves each payload file to its path below the workdir; a path leaving the workdir is refused.
fn place_files(workdir: &OsStr, files: &[(OsString, OsString)]) -> Result<(), String> {
    for (key, path) in files {
        let relative = Path::new(path);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(format!(
                "file path '{}' leaves the workdir",
                relative.display()
            ));
        }
        let target = join(workdir, path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("mkdir '{}': {}", parent.display(), e))?;
        }
        let source = join(workdir, key);
        // An empty file has no chunk in the payload, so nothing to move: it is created empty.
        if source.exists() {
            fs::rename(&source, &target)
        } else {
            fs::write(&target, b"")
        }
        .map_err(|e| format!("place '{}': {}", target.display(), e))?;
    }
    Ok(())
}

fn scratch_entries(dir: &Path) -> Vec<OsString> {
    fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |read| read.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
    )
}

/// Removes what a test added at the top of the scratch directory (errors ignored: best effort, the
/// program's own files; what it changed inside kept entries stays).
fn clear_scratch(dir: &Path, kept: &[OsString]) {
    for name in scratch_entries(dir) {
        if kept.contains(&name) {
            continue;
        }
        let path = dir.join(&name);
        let is_dir = fs::symlink_metadata(&path).map_or(false, |m| m.is_dir());
        let _ = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// The init container's part: the compiler's frames into `path`, exit 0 whatever it did (the main container
/// reports it); a compiler that cannot start is a failed compile with the reason as its output.
fn compile_only(staged: &Staged, compiler: &[OsString], path: &Path, frames: &Frames) -> i32 {
    if let Err(error) = result::redirect_frames(path) {
        eprintln!(
            "crucible-runner: cannot write '{}': {}",
            path.display(),
            error
        );
        return 127;
    }
    let stage = Stage {
        argv: compiler,
        stdin: None,
        timeout: staged.compile_timeout,
        max_output: staged.compile_max_output,
        tags: (b'c', b'c'),
        pids: staged.compile_pids,
    };
    match execute(stage, frames) {
        Ok(exit) => frames.write(b'k', exit.body().as_bytes(), false),
        Err(message) => {
            frames.data(b'c', format!("crucible-runner: {}\n", message).as_bytes());
            frames.write(b'k', b"127 - 0 0 0", false);
        }
    }
    0
}

fn fail(frames: &Frames, message: &str) -> i32 {
    let mut budget = Budget {
        max: Some(64 * 1024),
        used: 0,
    };
    let text = format!("crucible-runner: {}\n", message);
    frames.data(b'e', budget.take(text.as_bytes()));
    frames.exit(Some(127), None, false, Usage::NONE);
    127
}

/// The staged run: payload, files, the compile stage (if any), then the program once or once per test.
pub fn run(options: Options, staged: Staged, command: Vec<OsString>, frames: &Frames) -> i32 {
    if !options.payload.is_empty() {
        if let Err(message) = assemble_payload(&options.payload, &options.workdir) {
            return fail(frames, &format!("cannot assemble payload: {}", message));
        }
    }
    if let Err(message) = place_files(&options.workdir, &staged.files) {
        return fail(frames, &message);
    }
    let split = staged.compile_args.min(command.len());
    let (compiler, program) = command.split_at(split);
    if let Some(path) = staged.compile_to.as_deref() {
        return compile_only(&staged, compiler, path, frames);
    }
    if let Some(path) = staged.compiled.as_deref() {
        match result::replay(path, frames) {
            Ok(None) => {}
            Ok(Some(failed)) => {
                frames.exit(
                    failed.code,
                    failed.signal.as_deref(),
                    failed.timed_out,
                    Usage::NONE,
                );
                return failed.code.filter(|c| *c != 0).unwrap_or(1);
            }
            Err(message) => return fail(frames, &message),
        }
    }
    if !compiler.is_empty() {
        let stage = Stage {
            argv: compiler,
            stdin: None,
            timeout: staged.compile_timeout,
            max_output: staged.compile_max_output,
            tags: (b'c', b'c'),
            pids: staged.compile_pids,
        };
        match execute(stage, frames) {
            Ok(exit) => {
                frames.write(b'k', exit.body().as_bytes(), false);
                if !exit.succeeded() {
                    let signal = exit.signal.map(signal_name);
                    frames.exit(exit.code, signal.as_deref(), exit.timed_out, Usage::NONE);
                    return if exit.status() == 0 { 1 } else { exit.status() };
                }
            }
            Err(message) => return fail(frames, &message),
        }
    }
    let runs = if staged.tests == 0 { 1 } else { staged.tests };
    // Each test starts with the scratch directory as the compile stage left it (the local backend gives
    // every test a fresh sandbox; here they share the container).
    let kept = staged.scratch.as_deref().map(scratch_entries);
    let mut usage = Usage {
        cpu_ms: Some(0),
        peak_bytes: Some(0),
    };
    // With tests, each test's /artifacts is collected after it as `tests/<n>/…` (n from 1) and emptied, as
    // the local backend stores them; the cap runs across the tests (artifacts.rs).
    let mut per_test = if staged.tests > 0 {
        frames
            .take_artifacts()
            .map(|(dir, max_bytes)| (dir, artifacts::Allowance::new(max_bytes)))
    } else {
        None
    };
    let mut last: Option<StageExit> = None;
    for index in 0..runs {
        let stdin_name = if staged.tests == 0 {
            options.stdin.clone()
        } else {
            frames.write(b't', index.to_string().as_bytes(), false);
            OsString::from(format!("test-{:03}.stdin", index))
        };
        let stage = Stage {
            argv: program,
            stdin: Some(join(&options.workdir, &stdin_name)),
            timeout: options.timeout,
            max_output: options.max_output,
            tags: (b'o', b'e'),
            pids: None,
        };
        let exit = match execute(stage, frames) {
            Ok(exit) => exit,
            Err(message) => return fail(frames, &message),
        };
        if staged.tests > 0 {
            frames.write(b'r', exit.body().as_bytes(), false);
            if let Some((dir, allowance)) = per_test.as_mut() {
                let prefix = format!("tests/{}/", index + 1);
                artifacts::collect_within(frames, dir, prefix.as_bytes(), allowance);
                artifacts::clear(dir);
            }
            if let (Some(dir), Some(kept)) = (staged.scratch.as_deref(), kept.as_ref()) {
                clear_scratch(dir, kept);
            }
        }
        usage.cpu_ms = usage.cpu_ms.map(|c| c + exit.cpu_ms);
        usage.peak_bytes = usage.peak_bytes.map(|p| p.max(exit.peak_bytes));
        last = Some(exit);
    }
    let last = last.expect("at least one run");
    let signal = last.signal.map(signal_name);
    frames.exit(last.code, signal.as_deref(), last.timed_out, usage);
    last.status()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn staged_flags() {
        assert!(parse(&args(&["--timeout-ms", "5", "--", "--tests", "3"])).is_none());
        let staged = parse(&args(&[
            "--compile-args",
            "2",
            "--tests",
            "10",
            "--file",
            "f0=lib/a.h",
            "--",
            "gcc",
            "x",
        ]))
        .expect("staged");
        assert_eq!(staged.compile_args, 2);
        assert_eq!(staged.tests, 10);
        assert_eq!(
            staged.files,
            vec![(OsString::from("f0"), OsString::from("lib/a.h"))]
        );
    }

    #[test]
    fn files_stay_below_the_workdir() {
        let dir = std::env::temp_dir().join(format!("crucible-place-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("f0"), b"x").unwrap();
        let workdir = dir.as_os_str();
        let escape = [(OsString::from("f0"), OsString::from("../x"))];
        assert!(place_files(workdir, &escape).is_err());
        let inside = [(OsString::from("f0"), OsString::from("lib/a.h"))];
        place_files(workdir, &inside).unwrap();
        assert_eq!(fs::read(dir.join("lib/a.h")).unwrap(), b"x");
        fs::remove_dir_all(&dir).unwrap();
    }
}
