//! Writing and reading the daemon's and the tools' files: atomic replacement, capped reads,
//! and the names of the state directory's files that more than one program touches.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The file in the state directory that remembers the newest revocation list accepted
/// (`cardgated` writes it; `cardgatectl backup` and `restore` carry it).
pub const ACCEPTED_FILE: &str = "revocation.accepted";

/// The format version written into `revocation.accepted` (its first line, `format 1`), so that
/// a later cardgate can migrate it on upgrade. A record without one (`<version> <digest>`
/// alone, as cardgate wrote it before versions) is version 1; a newer one is refused.
pub const ACCEPTED_FORMAT_VERSION: u32 = 1;

/// What `revocation.accepted` remembers: the newest list accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The list's version.
    pub version: u64,
    /// The SHA-256 of the list's file.
    pub digest: [u8; 32],
}

/// Why a `revocation.accepted` record cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptedError {
    /// Not `[format N] <version> <64 hex digits>`.
    #[error("not a revocation.accepted record")]
    Malformed,
    /// A format version this cardgate does not know (written by another version).
    #[error(
        "format version {0}; this cardgate reads version {ACCEPTED_FORMAT_VERSION}: it was written by another cardgate version (downgraded?)"
    )]
    UnknownFormat(u32),
}

impl Accepted {
    /// Parses a record, versioned or not.
    pub fn parse(text: &str) -> Result<Accepted, AcceptedError> {
        let mut parts = text.split_whitespace();
        let mut first = parts.next().ok_or(AcceptedError::Malformed)?;
        if first == "format" {
            let format: u32 = parts
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or(AcceptedError::Malformed)?;
            if format == 0 || format > ACCEPTED_FORMAT_VERSION {
                return Err(AcceptedError::UnknownFormat(format));
            }
            first = parts.next().ok_or(AcceptedError::Malformed)?;
        }
        let version: u64 = first.parse().map_err(|_| AcceptedError::Malformed)?;
        let hex = parts
            .next()
            .filter(|h| h.len() == 64 && h.is_ascii())
            .ok_or(AcceptedError::Malformed)?;
        if parts.next().is_some() {
            return Err(AcceptedError::Malformed);
        }
        let mut digest = [0u8; 32];
        for (i, b) in digest.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| AcceptedError::Malformed)?;
        }
        Ok(Accepted { version, digest })
    }

    /// The record as written: `format 1`, then `<version> <digest hex>`.
    pub fn render(&self) -> String {
        let hex: String = self.digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("format {ACCEPTED_FORMAT_VERSION}\n{} {hex}\n", self.version)
    }
}

/// Writes a file atomically: a temporary file in the same directory with `mode` (created
/// afresh, never an existing file or link), fsync, rename over the target, fsync the
/// directory. A crash leaves the old file or the new one. Shared by `cardgated` and
/// `cardgatectl`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let (tmp, mut f) = create_temporary(dir, &name.to_string_lossy(), mode)?;
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    match result {
        Ok(()) => Ok(()),
        // The write's own error is what the caller must hear; the temporary file is ours
        // (created afresh above) and is gone already if the rename happened. One that cannot
        // be removed is named in that error, so that nobody has to find it by its disk use.
        Err(e) => match std::fs::remove_file(&tmp) {
            Ok(()) => Err(e),
            Err(gone) if gone.kind() == io::ErrorKind::NotFound => Err(e),
            Err(stuck) => Err(io::Error::new(
                e.kind(),
                format!(
                    "{e} (and the temporary file {} could not be removed: {stuck})",
                    tmp.display()
                ),
            )),
        },
    }
}

/// How many temporary names one write tries before it gives up.
const TEMPORARY_TRIES: u32 = 64;

/// The counter in temporary names: no two writes of this process share one.
static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a new temporary file next to the target. The name carries the process ID and a
/// counter: a file left by a process that crashed mid-write and whose ID this process now has
/// (a daemon restarted in a fresh PID namespace, say, or after a reboot) is stepped over,
/// where a name of the process ID alone would fail every later write with "file exists".
fn create_temporary(dir: &Path, name: &str, mode: u32) -> io::Result<(std::path::PathBuf, File)> {
    let mut last = None;
    for _ in 0..TEMPORARY_TRIES {
        let n = TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp{}.{n}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

/// Reads a whole file, refusing one larger than `cap` bytes (the error names the file).
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is {len} bytes, over the {cap}-byte limit",
                path.display()
            ),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        // It grew between the size check and the read.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is over the {cap}-byte limit", path.display()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_accepted_record_carries_its_format_version() {
        let a = Accepted {
            version: 7,
            digest: [0xab; 32],
        };
        let text = a.render();
        assert!(text.starts_with("format 1\n7 abab"), "{text}");
        assert_eq!(Accepted::parse(&text), Ok(a));
        // Written before versions: `<version> <digest>` alone is version 1.
        assert_eq!(Accepted::parse(&format!("7 {}\n", "ab".repeat(32))), Ok(a));
        for newer in [0, ACCEPTED_FORMAT_VERSION + 1] {
            assert_eq!(
                Accepted::parse(&format!("format {newer}\n7 {}\n", "ab".repeat(32))),
                Err(AcceptedError::UnknownFormat(newer))
            );
        }
        for bad in ["", "format", "format 1", "x y", "7 abab", "format 1\n7"] {
            assert_eq!(
                Accepted::parse(bad),
                Err(AcceptedError::Malformed),
                "{bad:?}"
            );
        }
        let extra = format!("7 {} 9\n", "ab".repeat(32));
        assert_eq!(Accepted::parse(&extra), Err(AcceptedError::Malformed));
    }
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cardgate-files-{name}-{}", std::process::id()));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => panic!("{}: {e}", dir.display()),
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_atomic_replaces_with_the_mode_and_leaves_no_temporary_file() {
        let dir = temp_dir("atomic");
        let path = dir.join("x.json");
        write_atomic(&path, b"one", 0o640).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        assert!(write_atomic(&dir.join("missing").join("x"), b"", 0o600).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // The temporary file was named after the process ID alone: one left by a crash of an
    // earlier process with the same ID made every write of that file fail ("file exists").
    #[test]
    fn a_temporary_file_left_by_an_earlier_process_is_stepped_over() {
        let dir = temp_dir("stale");
        let path = dir.join("sessions.json");
        let pid = std::process::id();
        let next = TEMPORARY_COUNTER.load(Ordering::Relaxed);
        let mut stale = vec![dir.join(format!(".sessions.json.tmp{pid}"))];
        stale.extend((next..next + 3).map(|n| dir.join(format!(".sessions.json.tmp{pid}.{n}"))));
        for s in &stale {
            std::fs::write(s, b"half").unwrap();
        }
        write_atomic(&path, b"whole", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        for s in &stale {
            assert_eq!(std::fs::read(s).unwrap(), b"half", "{}", s.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_capped_names_the_file_over_the_cap() {
        let dir = temp_dir("capped");
        let path = dir.join("big");
        std::fs::write(&path, [0u8; 11]).unwrap();
        assert_eq!(read_capped(&path, 11).unwrap().len(), 11);
        let err = read_capped(&path, 10).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
