//! Paths of the file API, confined to the workspace: every component is checked with lstat and a symlink
//! on the way is resolved by hand, so `..`, absolute names and symlinks pointing out are refused before
//! anything is opened (docs/sandboxes.md "files").

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed while resolving one path, as the kernel's own limit.
const MAX_LINKS: usize = 40;

#[derive(Debug)]
pub struct AgentError {
    pub code: &'static str,
    pub message: String,
}

impl AgentError {
    pub fn new(code: &'static str, message: String) -> AgentError {
        AgentError { code, message }
    }
    pub fn outside(path: &str) -> AgentError {
        AgentError::new(
            "path_outside_workspace",
            format!("{:?} leaves /workspace", path),
        )
    }
    pub fn io(what: &str, path: &str, error: io::Error) -> AgentError {
        let code = match error.kind() {
            io::ErrorKind::NotFound => "not_found",
            _ if error.raw_os_error() == Some(28) => "workspace_full",
            _ => "io_error",
        };
        AgentError::new(code, format!("{} {:?}: {}", what, path, error))
    }
}

pub struct Workspace {
    /// Canonical (symlink-free) path of the workspace directory.
    pub root: PathBuf,
}

impl Workspace {
    pub fn new(dir: &Path) -> io::Result<Workspace> {
        Ok(Workspace {
            root: fs::canonicalize(dir)?,
        })
    }

    /// The components of `path` relative to the workspace: `/workspace/a`, `/workspace` and relative names
    /// are accepted; any other absolute name and NUL bytes are not.
    fn relative_components(&self, path: &str) -> Result<VecDeque<OsString>, AgentError> {
        if path.as_bytes().contains(&0) {
            return Err(AgentError::new(
                "invalid_request",
                "a path must not contain NUL".to_string(),
            ));
        }
        let rest = if path.starts_with('/') {
            let stripped = path
                .strip_prefix("/workspace")
                .or_else(|| path.strip_prefix(self.root.to_str().unwrap_or("\0")))
                .ok_or_else(|| AgentError::outside(path))?;
            if !(stripped.is_empty() || stripped.starts_with('/')) {
                return Err(AgentError::outside(path));
            }
            stripped.trim_start_matches('/')
        } else {
            path
        };
        Ok(Path::new(rest)
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect())
    }

    /// The host path of `path` inside the workspace, every symlink on the way resolved (the last one too
    /// when `follow_last`), refused when any step leaves the workspace. Missing components are fine (a
    /// write creates them); the caller's own open then reports not_found.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf, AgentError> {
        let mut pending = self.relative_components(path)?;
        let mut resolved: Vec<OsString> = Vec::new();
        let mut links = 0;
        let mut missing = false;
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                if resolved.pop().is_none() {
                    return Err(AgentError::outside(path));
                }
                continue;
            }
            let candidate = self.join(&resolved).join(&name);
            let is_last = pending.is_empty();
            if !missing {
                match fs::symlink_metadata(&candidate) {
                    Ok(meta) if meta.file_type().is_symlink() && (follow_last || !is_last) => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(AgentError::new(
                                "io_error",
                                format!("{:?}: too many levels of symbolic links", path),
                            ));
                        }
                        let target = fs::read_link(&candidate)
                            .map_err(|e| AgentError::io("readlink", path, e))?;
                        let mut prefix = self.link_components(&target, path)?;
                        if target.is_absolute() {
                            resolved.clear();
                        }
                        while let Some(c) = prefix.pop_back() {
                            pending.push_front(c);
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => missing = true,
                    Err(e) => return Err(AgentError::io("stat", path, e)),
                }
            }
            resolved.push(name);
        }
        Ok(self.join(&resolved))
    }

    /// A symlink's target as components relative to the workspace (absolute targets must lie inside it).
    fn link_components(&self, target: &Path, path: &str) -> Result<VecDeque<OsString>, AgentError> {
        let rest: &Path = if target.is_absolute() {
            let inside = target
                .strip_prefix(&self.root)
                .or_else(|_| target.strip_prefix("/workspace"))
                .map_err(|_| AgentError::outside(path))?;
            inside
        } else {
            target
        };
        Ok(rest
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect())
    }

    fn join(&self, components: &[OsString]) -> PathBuf {
        let mut p = self.root.clone();
        for c in components {
            p.push(c);
        }
        p
    }

    /// `host` relative to the workspace root, as the API shows it (`a/b.txt`; "" for the root).
    pub fn display(&self, host: &Path) -> String {
        let rel = host.strip_prefix(&self.root).unwrap_or(host);
        String::from_utf8_lossy(rel.as_os_str().as_bytes()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn workspace() -> (Workspace, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "agent-paths-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("ws/sub")).unwrap();
        fs::write(dir.join("secret"), "x").unwrap();
        symlink("/etc", dir.join("ws/out")).unwrap();
        symlink("../secret", dir.join("ws/up")).unwrap();
        symlink("sub", dir.join("ws/in")).unwrap();
        symlink("/workspace/sub", dir.join("ws/abs_in")).unwrap();
        (Workspace::new(&dir.join("ws")).unwrap(), dir)
    }

    #[test]
    fn confines_paths() {
        let (ws, dir) = workspace();
        assert_eq!(ws.resolve("a/../b", true).unwrap(), ws.root.join("b"));
        assert_eq!(
            ws.resolve("/workspace/sub/x", true).unwrap(),
            ws.root.join("sub/x")
        );
        assert_eq!(ws.resolve("in/x", true).unwrap(), ws.root.join("sub/x"));
        assert_eq!(ws.resolve("abs_in/x", true).unwrap(), ws.root.join("sub/x"));
        for bad in [
            "../x",
            "sub/../../x",
            "/etc/passwd",
            "/workspacex",
            "out/passwd",
            "up",
            "out",
        ] {
            let e = ws.resolve(bad, true).unwrap_err();
            assert_eq!(e.code, "path_outside_workspace", "{}", bad);
        }
        // Not following the last component: deleting the link itself is fine.
        assert_eq!(ws.resolve("out", false).unwrap(), ws.root.join("out"));
        fs::remove_dir_all(dir).unwrap();
    }
}
