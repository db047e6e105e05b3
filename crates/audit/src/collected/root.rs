//! The collector's tree: `<root>/<H>/*.jsonl`, one directory per terminal (H: the host name as
//! its rsyslog sends it, made path-safe), each file a stretch of the terminal's arrival stream,
//! read in byte-wise name order.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::CollectedError;

/// Longest terminal (host) name accepted: a DNS name's 253 bytes.
pub const MAX_HOST_LEN: usize = 253;
/// Most terminal directories under one root: as many as one checkpoint holds, so that every
/// run's checkpoint can be read back by the next.
pub const MAX_TERMINALS: usize = crate::report::checkpoint::MAX_CHECKPOINT_LOGS;
/// Most arrival files in one terminal's directory.
pub const MAX_FILES: usize = 100_000;

/// One terminal's directory and its arrival files, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// The host name (the directory's name).
    pub host: String,
    /// The directory.
    pub dir: PathBuf,
    /// Its `*.jsonl` files, in byte-wise name order.
    pub files: Vec<PathBuf>,
}

/// Why a name is not a terminal name, or `None` when it is one: 1–253 bytes of ASCII letters,
/// digits, `.`, `-` and `_`, not starting with `.` (so never `.` or `..`), no `/`.
pub fn host_name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > MAX_HOST_LEN {
        return Some("longer than 253 bytes");
    }
    if name[0] == b'.' {
        return Some("starts with a dot");
    }
    if !name
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Some("holds a character other than letters, digits, '.', '-' and '_'");
    }
    None
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CollectedError + 'a {
    move |source| CollectedError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// The terminals under `root`, by host name. Every entry of the root must be a terminal's
/// directory with a valid name: anything else is an error naming it (fail closed: a file the
/// collector did not put there is not skipped silently).
pub fn list_terminals(root: &Path) -> Result<Vec<Terminal>, CollectedError> {
    match std::fs::symlink_metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(CollectedError::NotADirectory {
                path: root.to_owned(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectedError::NoRoot {
                path: root.to_owned(),
            })
        }
        Err(e) => return Err(io("reading the collected root", root)(e)),
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io("listing the collected root", root))? {
        let entry = entry.map_err(io("listing the collected root", root))?;
        let path = entry.path();
        let name = entry.file_name();
        if let Some(why) = host_name_problem(name.as_bytes()) {
            return Err(CollectedError::BadHost { path, why });
        }
        let meta = std::fs::symlink_metadata(&path).map_err(io("reading", &path))?;
        if !meta.is_dir() {
            return Err(CollectedError::NotADirectory { path });
        }
        if out.len() >= MAX_TERMINALS {
            return Err(CollectedError::TooMany {
                path: root.to_owned(),
                max: MAX_TERMINALS,
            });
        }
        let host = name.to_string_lossy().into_owned();
        let files = list_files(&path)?;
        out.push(Terminal {
            host,
            dir: path,
            files,
        });
    }
    out.sort_by(|a, b| a.host.as_bytes().cmp(b.host.as_bytes()));
    Ok(out)
}

/// A terminal directory's `*.jsonl` files, in byte-wise name order. Other names are not the
/// collector's stream and are left alone; a `*.jsonl` that is not a regular file (a symbolic
/// link, a directory) is an error naming it.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, CollectedError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("listing a terminal's directory", dir))? {
        let entry = entry.map_err(io("listing a terminal's directory", dir))?;
        let name = entry.file_name();
        if !name.as_bytes().ends_with(b".jsonl") {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io("reading", &path))?;
        if !meta.is_file() {
            return Err(CollectedError::NotARegularFile { path });
        }
        if files.len() >= MAX_FILES {
            return Err(CollectedError::TooMany {
                path: dir.to_owned(),
                max: MAX_FILES,
            });
        }
        files.push(path);
    }
    files.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_path_safe() {
        for good in ["t1", "juki-01.town.example", "a_b", &"x".repeat(253)] {
            assert_eq!(host_name_problem(good.as_bytes()), None, "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "日本",
            "a\nb",
            &"x".repeat(254),
        ] {
            assert!(host_name_problem(bad.as_bytes()).is_some(), "{bad:?}");
        }
    }
}
