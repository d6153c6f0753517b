//! archive/restore: the workspace as a POSIX tar (ustar, PAX records for long names), so hibernation keeps
//! permissions, symlinks, empty directories and modification times (docs/sandboxes.md).

use super::paths::{AgentError, Workspace};
use super::sys;
use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const BLOCK: usize = 512;

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{:0width$o}", value, width = width);
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "<len> key=value\n" where len counts itself.
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    if len.to_string().len() + base != len {
        len = base + len.to_string().len();
    }
    let mut out = format!("{} {}=", len, key).into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn header(
    name: &[u8],
    meta: Option<&fs::Metadata>,
    size: u64,
    kind: u8,
    link: &[u8],
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    let (mode, uid, gid, mtime) = meta.map_or((0o644, 0, 0, 0), |m| {
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime().max(0))
    });
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], u64::from(uid));
    octal(&mut h[116..124], u64::from(gid));
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime as u64);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{:06o}\0 ", sum);
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// Pads the stream to a whole block; `flushed` bytes of it were already emitted before `out`.
fn pad(out: &mut Vec<u8>, flushed: u64) {
    let rem = (flushed as usize + out.len()) % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

fn sorted_tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => continue,
        };
        children.sort();
        for child in children.into_iter().rev() {
            if child
                .symlink_metadata()
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                stack.push(child.clone());
            }
            out.push(child);
        }
    }
    out.sort();
    out
}

/// Writes the workspace as a tar to `emit` in chunks of about `chunk` bytes; returns the total size.
pub fn archive(
    ws: &Workspace,
    chunk: usize,
    emit: &mut dyn FnMut(&[u8]),
) -> Result<u64, AgentError> {
    let mut buf: Vec<u8> = Vec::with_capacity(chunk + 2 * BLOCK);
    let mut total: u64 = 0;
    let mut flush = |buf: &mut Vec<u8>, force: bool, total: &mut u64| {
        if buf.len() >= chunk || (force && !buf.is_empty()) {
            emit(buf);
            *total += buf.len() as u64;
            buf.clear();
        }
    };
    for path in sorted_tree(&ws.root) {
        let meta = match path.symlink_metadata() {
            Ok(m) => m,
            Err(_) => continue,
        };
        let mut name = path
            .strip_prefix(&ws.root)
            .unwrap_or(&path)
            .as_os_str()
            .as_bytes()
            .to_vec();
        let t = meta.file_type();
        let (kind, link, size) = if t.is_dir() {
            name.push(b'/');
            (b'5', Vec::new(), 0)
        } else if t.is_symlink() {
            let target = fs::read_link(&path)
                .map_err(|e| AgentError::io("archive", &ws.display(&path), e))?;
            (b'2', target.as_os_str().as_bytes().to_vec(), 0)
        } else if t.is_file() {
            (b'0', Vec::new(), meta.len())
        } else {
            continue; // devices, FIFOs, sockets: not kept
        };
        if name.len() > 100 || link.len() > 100 {
            let mut records = pax_record("path", &name);
            if link.len() > 100 {
                records.extend(pax_record("linkpath", &link));
            }
            buf.extend_from_slice(&header(
                b"././@PaxHeader",
                None,
                records.len() as u64,
                b'x',
                b"",
            ));
            buf.extend_from_slice(&records);
            pad(&mut buf, total);
        }
        buf.extend_from_slice(&header(&name, Some(&meta), size, kind, &link));
        if kind == b'0' {
            let mut file = OpenOptions::new()
                .read(true)
                .custom_flags(sys::O_NOFOLLOW | sys::O_NONBLOCK)
                .open(&path)
                .map_err(|e| AgentError::io("archive", &ws.display(&path), e))?;
            let mut left = size;
            let mut block = vec![0u8; 256 * 1024];
            while left > 0 {
                let want = (block.len() as u64).min(left) as usize;
                let n = file
                    .read(&mut block[..want])
                    .map_err(|e| AgentError::io("archive", &ws.display(&path), e))?;
                if n == 0 {
                    // Shrunk while archived: zero-fill to the size the header promised.
                    buf.resize(buf.len() + left as usize, 0);
                    break;
                }
                buf.extend_from_slice(&block[..n]);
                left -= n as u64;
                flush(&mut buf, false, &mut total);
            }
            pad(&mut buf, total);
        }
        flush(&mut buf, false, &mut total);
    }
    buf.extend_from_slice(&[0u8; 2 * BLOCK]);
    flush(&mut buf, true, &mut total);
    Ok(total)
}

fn parse_octal(field: &[u8]) -> u64 {
    field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(*b))
        .fold(0, |n, b| n * 8 + u64::from(b - b'0'))
}

fn cstr(field: &[u8]) -> Vec<u8> {
    field.iter().take_while(|b| **b != 0).copied().collect()
}

fn set_mtime(path: &Path, mtime: i64) {
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        let times = [
            sys::TimeSpec {
                sec: mtime,
                nsec: 0,
            },
            sys::TimeSpec {
                sec: mtime,
                nsec: 0,
            },
        ];
        unsafe {
            sys::utimensat(
                sys::AT_FDCWD,
                c.as_ptr(),
                times.as_ptr(),
                sys::AT_SYMLINK_NOFOLLOW,
            );
        }
    }
}

/// Removes everything in the workspace (not the directory itself: it may be a mount point).
pub fn empty(ws: &Workspace) -> io::Result<()> {
    for path in sorted_tree(&ws.root) {
        if path.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false) {
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o700));
        }
    }
    for entry in fs::read_dir(&ws.root)? {
        let path = entry?.path();
        if path.symlink_metadata()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn entry_path(ws: &Workspace, name: &[u8]) -> Result<PathBuf, AgentError> {
    let text = String::from_utf8_lossy(name).into_owned();
    let trimmed = text.trim_end_matches('/');
    let rel = Path::new(OsStr::from_bytes(trimmed.as_bytes()));
    if trimmed.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(AgentError::outside(&text));
    }
    // Nothing is written through a symlink: every parent must be a real directory (or not exist yet).
    let mut at = ws.root.clone();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len() - 1] {
        at.push(part);
        if let Ok(meta) = at.symlink_metadata() {
            if !meta.is_dir() {
                return Err(AgentError::outside(&text));
            }
        }
    }
    Ok(ws.root.join(rel))
}

/// Replaces the workspace with the tar read from `input`.
pub fn restore(ws: &Workspace, input: &mut dyn Read) -> Result<u64, AgentError> {
    let bad = |e: io::Error| AgentError::new("invalid_request", format!("restore: {}", e));
    empty(ws).map_err(|e| AgentError::io("empty", "/workspace", e))?;
    let mut dirs: Vec<(PathBuf, u32, i64)> = Vec::new();
    let mut count = 0u64;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut block = [0u8; BLOCK];
    loop {
        if let Err(e) = input.read_exact(&mut block) {
            if e.kind() == io::ErrorKind::UnexpectedEof && count == 0 {
                break; // an empty archive (empty workspace)
            }
            return Err(bad(e));
        }
        if block.iter().all(|b| *b == 0) {
            break;
        }
        let size = parse_octal(&block[124..136]);
        let kind = block[156];
        let mut data = Vec::new();
        let data_blocks = (size as usize + BLOCK - 1) / BLOCK * BLOCK;
        let is_meta = kind == b'x' || kind == b'L' || kind == b'K' || kind == b'g';
        let mut file_target: Option<fs::File> = None;
        let mut name = long_name.take().unwrap_or_else(|| {
            let mut n = cstr(&block[345..500]);
            if !n.is_empty() {
                n.push(b'/');
            }
            n.extend(cstr(&block[..100]));
            n
        });
        let link = long_link.take().unwrap_or_else(|| cstr(&block[157..257]));
        let mode = parse_octal(&block[100..108]) as u32 & 0o7777;
        let mtime = parse_octal(&block[136..148]) as i64;
        let path = if is_meta {
            None
        } else {
            Some(entry_path(ws, &name)?)
        };
        if let (Some(p), b'0') | (Some(p), 0) = (&path, kind) {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(sys::O_NOFOLLOW)
                .open(p)
                .map_err(|e| AgentError::io("restore", &ws.display(p), e))?;
            file_target = Some(file);
        }
        let mut left = data_blocks;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        while left > 0 {
            let n = buf.len().min(left);
            input.read_exact(&mut buf[..n]).map_err(bad)?;
            let useful = (size - written).min(n as u64) as usize;
            if is_meta {
                data.extend_from_slice(&buf[..useful]);
            } else if let Some(f) = file_target.as_mut() {
                f.write_all(&buf[..useful])
                    .map_err(|e| AgentError::io("restore", &name_text(&name), e))?;
            }
            written += useful as u64;
            left -= n;
        }
        match kind {
            b'x' => {
                for (key, value) in pax_records(&data) {
                    match key.as_slice() {
                        b"path" => long_name = Some(value),
                        b"linkpath" => long_link = Some(value),
                        _ => {}
                    }
                }
                continue;
            }
            b'L' => {
                long_name = Some(cstr(&data));
                continue;
            }
            b'K' => {
                long_link = Some(cstr(&data));
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let path = path.unwrap();
        count += 1;
        match kind {
            b'5' => {
                fs::create_dir_all(&path)
                    .map_err(|e| AgentError::io("restore", &name_text(&name), e))?;
                dirs.push((path, mode, mtime));
            }
            b'2' => {
                symlink(OsStr::from_bytes(&link), &path)
                    .map_err(|e| AgentError::io("restore", &name_text(&name), e))?;
                set_mtime(&path, mtime);
            }
            b'0' | 0 => {
                drop(file_target);
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                    .map_err(|e| AgentError::io("restore", &name_text(&name), e))?;
                set_mtime(&path, mtime);
            }
            _ => {} // hard links, devices, FIFOs: never produced by archive, skipped
        }
        name.clear();
    }
    // Deepest first, so a read-only parent is made read-only after its children exist.
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (path, mode, mtime) in dirs {
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode));
        set_mtime(&path, mtime);
    }
    Ok(count)
}

fn name_text(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn pax_records(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(space) = rest.iter().position(|b| *b == b' ') {
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if len <= space || len > rest.len() {
            break;
        }
        let record = &rest[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        }
        rest = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("path", b"abc");
        assert_eq!(r, b"12 path=abc\n");
        assert_eq!(pax_records(&r), vec![(b"path".to_vec(), b"abc".to_vec())]);
    }

    #[test]
    fn archive_then_restore_keeps_the_tree() {
        let base = std::env::temp_dir().join(format!("agent-tar-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (a, b) = (base.join("a"), base.join("b"));
        fs::create_dir_all(a.join("empty")).unwrap();
        fs::create_dir_all(a.join("d").join("x".repeat(120))).unwrap();
        fs::write(a.join("d/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(a.join("d/run.sh"), fs::Permissions::from_mode(0o751)).unwrap();
        fs::write(a.join("big"), vec![7u8; 300_000]).unwrap();
        symlink("d/run.sh", a.join("link")).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("stale"), "x").unwrap();
        let (wa, wb) = (Workspace::new(&a).unwrap(), Workspace::new(&b).unwrap());
        let mut tar = Vec::new();
        archive(&wa, 4096, &mut |c| tar.extend_from_slice(c)).unwrap();
        restore(&wb, &mut &tar[..]).unwrap();
        assert!(!b.join("stale").exists());
        assert!(b.join("empty").is_dir());
        assert!(b.join("d").join("x".repeat(120)).is_dir());
        assert_eq!(fs::read(b.join("big")).unwrap(), vec![7u8; 300_000]);
        assert_eq!(
            fs::metadata(b.join("d/run.sh")).unwrap().mode() & 0o7777,
            0o751
        );
        assert_eq!(
            fs::read_link(b.join("link")).unwrap(),
            PathBuf::from("d/run.sh")
        );
        let mut again = Vec::new();
        archive(&wb, 4096, &mut |c| again.extend_from_slice(c)).unwrap();
        assert_eq!(tar, again);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn refuses_entries_leaving_the_workspace() {
        let base = std::env::temp_dir().join(format!("agent-tar-evil-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let ws = Workspace::new(&base).unwrap();
        for name in [&b"../evil"[..], b"/etc/evil"] {
            let mut tar = header(name, None, 0, b'0', b"").to_vec();
            tar.extend_from_slice(&[0u8; 1024]);
            assert_eq!(
                restore(&ws, &mut &tar[..]).unwrap_err().code,
                "path_outside_workspace"
            );
        }
        let mut tar = header(b"l", None, 0, b'2', b"/tmp").to_vec();
        tar.extend_from_slice(&header(b"l/evil", None, 0, b'0', b""));
        tar.extend_from_slice(&[0u8; 1024]);
        assert_eq!(
            restore(&ws, &mut &tar[..]).unwrap_err().code,
            "path_outside_workspace"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
