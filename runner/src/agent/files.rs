//! The file API (read, write, delete, list, glob, grep), run by the agent as the sandbox user.

use super::json::{num, obj, string, Json};
use super::paths::{AgentError, Workspace};
use super::sys;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct Files<'a> {
    pub ws: &'a Workspace,
    pub max_file_bytes: u64,
}

type Answer = Result<(Json, Vec<u8>), AgentError>;

fn path_of(request: &Json) -> Result<String, AgentError> {
    match request.get("path") {
        Some(Json::Str(s)) => Ok(s.clone()),
        None => Ok(String::new()),
        _ => Err(AgentError::new(
            "invalid_request",
            "path must be a string".to_string(),
        )),
    }
}

fn kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else {
        "other"
    }
}

impl<'a> Files<'a> {
    pub fn handle(&self, op: &str, request: &Json, body: Vec<u8>) -> Answer {
        let path = path_of(request)?;
        match op {
            "read" => self.read(&path),
            "write" => self.write(&path, request.u64_of("mode").unwrap_or(0o644) as u32, body),
            "delete" => self.delete(&path, request.bool_of("recursive")),
            "list" => self.list(&path),
            "glob" => self.glob(&path, request),
            "grep" => self.grep(&path, request),
            _ => Err(AgentError::new(
                "invalid_request",
                format!("unknown op {:?}", op),
            )),
        }
    }

    fn read(&self, path: &str) -> Answer {
        let host = self.ws.resolve(path, true)?;
        let meta = fs::symlink_metadata(&host).map_err(|e| AgentError::io("read", path, e))?;
        if !meta.file_type().is_file() {
            return Err(AgentError::new(
                "not_a_regular_file",
                format!("{:?} is a {}, not a regular file", path, kind(&meta)),
            ));
        }
        if meta.len() > self.max_file_bytes {
            return Err(too_large(path, meta.len(), self.max_file_bytes));
        }
        // O_NOFOLLOW and O_NONBLOCK: if the file was swapped for a link or a FIFO since the check, the open
        // fails or returns at once instead of following or blocking; fstat then rechecks the type.
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(sys::O_NOFOLLOW | sys::O_NONBLOCK)
            .open(&host)
            .map_err(|e| AgentError::io("read", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| AgentError::io("read", path, e))?;
        if !meta.file_type().is_file() || meta.len() > self.max_file_bytes {
            return Err(AgentError::new(
                "not_a_regular_file",
                format!("{:?} changed while read", path),
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&mut file)
            .take(self.max_file_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| AgentError::io("read", path, e))?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(too_large(path, bytes.len() as u64, self.max_file_bytes));
        }
        let header = obj(vec![
            ("type", string("ok")),
            ("size", num(bytes.len() as f64)),
            ("mode", num(meta.permissions().mode() & 0o7777)),
        ]);
        Ok((header, bytes))
    }

    fn write(&self, path: &str, mode: u32, body: Vec<u8>) -> Answer {
        if body.len() as u64 > self.max_file_bytes {
            return Err(too_large(path, body.len() as u64, self.max_file_bytes));
        }
        // A symlink at the final name is followed (and refused when it points out): writing through a link
        // writes its target, as a program's own write would.
        let host = self.ws.resolve(path, true)?;
        if host == self.ws.root {
            return Err(AgentError::new(
                "not_a_regular_file",
                "the workspace itself is a directory".to_string(),
            ));
        }
        let parent = host.parent().unwrap_or(&self.ws.root).to_path_buf();
        fs::create_dir_all(&parent)
            .map_err(|e| AgentError::io("create the parents of", path, e))?;
        if let Ok(meta) = fs::symlink_metadata(&host) {
            if meta.is_dir() {
                return Err(AgentError::new(
                    "not_a_regular_file",
                    format!("{:?} is a directory", path),
                ));
            }
        }
        // A temporary name in the same directory, then rename: no reader sees half a file, and a FIFO or a
        // device at the final name is replaced, never opened.
        let name = host
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let mut temp_name = b".crucible-write-".to_vec();
        temp_name.extend_from_slice(&name);
        let temp = parent.join(std::ffi::OsStr::from_bytes(&temp_name));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o7777)
                .custom_flags(sys::O_NOFOLLOW)
                .open(&temp)?;
            file.write_all(&body)?;
            fs::set_permissions(&temp, fs::Permissions::from_mode(mode & 0o7777))?;
            fs::rename(&temp, &host)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(AgentError::io("write", path, e));
        }
        Ok((
            obj(vec![
                ("type", string("ok")),
                ("size", num(body.len() as f64)),
            ]),
            Vec::new(),
        ))
    }

    fn delete(&self, path: &str, recursive: bool) -> Answer {
        let host = self.ws.resolve(path, false)?;
        if host == self.ws.root {
            return Err(AgentError::new(
                "invalid_request",
                "the workspace itself cannot be deleted".to_string(),
            ));
        }
        let meta = fs::symlink_metadata(&host).map_err(|e| AgentError::io("delete", path, e))?;
        let result = if meta.is_dir() {
            if recursive {
                fs::remove_dir_all(&host)
            } else {
                fs::remove_dir(&host)
            }
        } else {
            fs::remove_file(&host)
        };
        result.map_err(|e| AgentError::io("delete", path, e))?;
        Ok((obj(vec![("type", string("ok"))]), Vec::new()))
    }

    fn list(&self, path: &str) -> Answer {
        let host = self.ws.resolve(path, true)?;
        let meta = fs::symlink_metadata(&host).map_err(|e| AgentError::io("list", path, e))?;
        if !meta.is_dir() {
            return Err(AgentError::new(
                "not_a_regular_file",
                format!("{:?} is not a directory", path),
            ));
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(&host).map_err(|e| AgentError::io("list", path, e))? {
            let entry = entry.map_err(|e| AgentError::io("list", path, e))?;
            if let Ok(meta) = entry.path().symlink_metadata() {
                let name = String::from_utf8_lossy(entry.file_name().as_bytes()).into_owned();
                entries.push((name, meta));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let items = entries
            .into_iter()
            .map(|(name, meta)| {
                obj(vec![
                    ("name", Json::Str(name)),
                    ("type", string(kind(&meta))),
                    (
                        "size",
                        num(if meta.is_file() {
                            meta.len() as f64
                        } else {
                            0.0
                        }),
                    ),
                    ("mode", num(meta.mode() & 0o7777)),
                ])
            })
            .collect();
        Ok((
            obj(vec![("type", string("ok")), ("entries", Json::Arr(items))]),
            Vec::new(),
        ))
    }

    /// Every path under `base` (not following symlinks), relative to the workspace, sorted.
    fn walk(&self, base: &Path, limit: usize, out: &mut Vec<(PathBuf, fs::Metadata)>) {
        let mut stack = vec![base.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let mut children: Vec<PathBuf> = match fs::read_dir(&dir) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(_) => continue,
            };
            children.sort();
            for child in children.into_iter().rev() {
                if let Ok(meta) = child.symlink_metadata() {
                    if meta.is_dir() {
                        stack.push(child.clone());
                    }
                    out.push((child, meta));
                    if out.len() > limit * 20 + 100_000 {
                        return;
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
    }

    fn glob(&self, path: &str, request: &Json) -> Answer {
        let pattern = request.str_of("pattern").ok_or_else(|| {
            AgentError::new("invalid_request", "glob needs a pattern".to_string())
        })?;
        let limit = request.u64_of("limit").unwrap_or(1000) as usize;
        let base = self.ws.resolve(path, true)?;
        let mut all = Vec::new();
        self.walk(&base, limit, &mut all);
        let mut paths = Vec::new();
        let mut truncated = false;
        for (p, _) in all {
            let rel = p
                .strip_prefix(&base)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if glob_match(pattern, &rel) {
                if paths.len() >= limit {
                    truncated = true;
                    break;
                }
                paths.push(Json::Str(self.ws.display(&p)));
            }
        }
        Ok((
            obj(vec![
                ("type", string("ok")),
                ("paths", Json::Arr(paths)),
                ("truncated", Json::Bool(truncated)),
            ]),
            Vec::new(),
        ))
    }

    fn grep(&self, path: &str, request: &Json) -> Answer {
        let pattern = request
            .str_of("pattern")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                AgentError::new(
                    "invalid_request",
                    "grep needs a non-empty pattern".to_string(),
                )
            })?;
        let glob = request.str_of("glob");
        let limit = request.u64_of("limit").unwrap_or(1000) as usize;
        let base = self.ws.resolve(path, true)?;
        let mut files = Vec::new();
        if base.is_file() {
            if let Ok(meta) = base.symlink_metadata() {
                files.push((base.clone(), meta));
            }
        } else {
            self.walk(&base, limit, &mut files);
        }
        let mut matches = Vec::new();
        let mut truncated = false;
        'files: for (p, meta) in files {
            if !meta.is_file() || meta.len() > self.max_file_bytes {
                continue;
            }
            if let Some(g) = glob {
                let rel = p
                    .strip_prefix(&base)
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !(glob_match(g, &rel) || (!g.contains('/') && glob_match(g, &name))) {
                    continue;
                }
            }
            let mut bytes = Vec::new();
            let opened = OpenOptions::new()
                .read(true)
                .custom_flags(sys::O_NOFOLLOW | sys::O_NONBLOCK)
                .open(&p);
            if opened
                .and_then(|mut f: File| f.read_to_end(&mut bytes))
                .is_err()
            {
                continue;
            }
            if bytes[..bytes.len().min(8192)].contains(&0) {
                continue;
            }
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if contains(line, pattern.as_bytes()) {
                    if matches.len() >= limit {
                        truncated = true;
                        break 'files;
                    }
                    let text = String::from_utf8_lossy(&line[..line.len().min(1000)]).into_owned();
                    matches.push(obj(vec![
                        ("path", Json::Str(self.ws.display(&p))),
                        ("line", num((i + 1) as f64)),
                        ("text", Json::Str(text)),
                    ]));
                }
            }
        }
        Ok((
            obj(vec![
                ("type", string("ok")),
                ("matches", Json::Arr(matches)),
                ("truncated", Json::Bool(truncated)),
            ]),
            Vec::new(),
        ))
    }
}

fn too_large(path: &str, size: u64, max: u64) -> AgentError {
    AgentError::new(
        "file_too_large",
        format!("{:?} is {} bytes; the limit is {} bytes", path, size, max),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Glob over `/`-separated paths: `*` and `?` within a segment, `[abc]`/`[a-z]`/`[!a]` classes, `**` for any
/// number of segments.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_segments(&p, &s)
}

fn match_segments(p: &[&str], s: &[&str]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(&"**") => (0..=s.len()).any(|i| match_segments(&p[1..], &s[i..])),
        Some(seg) => {
            !s.is_empty()
                && match_one(seg.as_bytes(), s[0].as_bytes())
                && match_segments(&p[1..], &s[1..])
        }
    }
}

fn match_one(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| match_one(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && match_one(&p[1..], &s[1..]),
        Some(b'[') => {
            let close = match p.iter().skip(2).position(|c| *c == b']') {
                Some(i) => i + 2,
                None => return !s.is_empty() && s[0] == b'[' && match_one(&p[1..], &s[1..]),
            };
            if s.is_empty() {
                return false;
            }
            let (negate, class) = match p[1] {
                b'!' | b'^' => (true, &p[2..close]),
                _ => (false, &p[1..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= s[0] && s[0] <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == s[0];
                    i += 1;
                }
            }
            hit != negate && match_one(&p[close + 1..], &s[1..])
        }
        Some(c) => !s.is_empty() && *c == s[0] && match_one(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("**/*.py", "a/b/c.py"));
        assert!(glob_match("**/*.py", "c.py"));
        assert!(glob_match("src/[a-c]?.rs", "src/b1.rs"));
        assert!(!glob_match("src/[!a-c]?.rs", "src/b1.rs"));
        assert!(!glob_match("*.py", "a/c.py"));
    }
}
