//! How far rsyslog has shipped this terminal's audit log (issue 13, `cardgatectl status`).
//!
//! The shipped terminal configuration (`/usr/share/cardgate/rsyslog/cardgate-terminal.conf`,
//! docs/integration.md) has rsyslog's `imfile` read the segments and `omrelp` send each line
//! to the collector. imfile keeps its position in each file in a state file in rsyslog's
//! work directory (`/var/spool/rsyslog` on Debian; `$CARDGATE_RSYSLOG_DIR` names another),
//! `imfile-state:<inode>[:<hash>]`, a small JSON object with the file's name and `curr_offs`,
//! the offset up to which it has read. This module matches those state files to the segments
//! (by name and inode: a state file left by an earlier file of the same name does not count)
//! and turns each offset into the number of the last record before it.
//!
//! Reads are bounded: a state file of at most [`MAX_STATE_BYTES`], and per segment its first
//! line, the line before imfile's offset and its last line (each at most
//! [`cardgate_audit::record::MAX_LINE_LEN`] away).

use cardgate_audit::record::MAX_LINE_LEN;
use cardgate_audit::segments::{list_segments, segment_name};
use cardgate_audit::Record;
use serde::Serialize;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Debian's rsyslog work directory (`$WorkDirectory` in `/etc/rsyslog.conf`).
pub const RSYSLOG_DIR: &str = "/var/spool/rsyslog";

/// The environment variable that names another rsyslog work directory.
pub const RSYSLOG_DIR_ENV: &str = "CARDGATE_RSYSLOG_DIR";

/// A state file is a one-line JSON object; anything larger is not imfile's.
pub const MAX_STATE_BYTES: u64 = 64 * 1024;

/// What went wrong reading rsyslog's state or the segments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShippingError {
    /// A directory or file could not be read.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ShippingError + 'a {
    move |source| ShippingError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// One segment and how far imfile has read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentShipping {
    /// The segment's file name (`audit-00000001.jsonl`).
    pub segment: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its first and last record numbers (`None` for an empty segment).
    pub first_seq: Option<u64>,
    /// The last record number.
    pub last_seq: Option<u64>,
    /// imfile's offset in it (`None`: rsyslog has no position for it yet).
    pub offset: Option<u64>,
    /// The number of the last record before imfile's offset (`None`: nothing read).
    pub read_up_to: Option<u64>,
    /// Records of this segment not yet read by rsyslog.
    pub waiting: u64,
}

/// How far shipping has got (`status --json`, under `shipping`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipping {
    /// rsyslog's work directory that was read.
    pub rsyslog_dir: PathBuf,
    /// Whether rsyslog keeps a position for any segment of this log: shipping is set up.
    pub configured: bool,
    /// Per segment, in order.
    pub segments: Vec<SegmentShipping>,
    /// Records on this terminal that rsyslog has not yet read, all segments together.
    pub waiting: u64,
}

/// The rsyslog work directory: `$CARDGATE_RSYSLOG_DIR`, else [`RSYSLOG_DIR`].
pub fn rsyslog_dir() -> PathBuf {
    std::env::var_os(RSYSLOG_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(RSYSLOG_DIR), PathBuf::from)
}

/// One imfile state file's content: the file it is about and the offset read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImfileState {
    /// The file imfile read.
    pub filename: PathBuf,
    /// The inode in the state file's name.
    pub inode: Option<u64>,
    /// How far it has read.
    pub offset: u64,
}

/// Parses an imfile state file (`{ "filename": "…", "prev_was_nl": 0, "curr_offs": N, … }`)
/// named `name` (`imfile-state:<inode>[:<hash>]`); `None` when it is not one.
pub fn parse_state(name: &str, text: &[u8]) -> Option<ImfileState> {
    let rest = name.strip_prefix("imfile-state:")?;
    let inode = rest.split(':').next().and_then(|i| i.parse().ok());
    let value: serde_json::Value = serde_json::from_slice(text).ok()?;
    let filename = PathBuf::from(value.get("filename")?.as_str()?);
    let offset = value.get("curr_offs")?.as_u64()?;
    Some(ImfileState {
        filename,
        inode,
        offset,
    })
}

/// Every imfile state file in `dir` (files that are not, or too large, are passed over).
pub fn read_states(dir: &Path) -> Result<Vec<ImfileState>, ShippingError> {
    let mut states = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("cannot list", dir))? {
        let entry = entry.map_err(io("cannot list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("imfile-state:") {
            continue;
        }
        let path = entry.path();
        let file = std::fs::File::open(&path).map_err(io("cannot open", &path))?;
        let mut text = Vec::new();
        file.take(MAX_STATE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(io("cannot read", &path))?;
        if text.len() as u64 > MAX_STATE_BYTES {
            continue;
        }
        if let Some(state) = parse_state(name, &text) {
            states.push(state);
        }
    }
    Ok(states)
}

/// The record on the line that ends just before `end` (a `\n` at `end - 1`), if any.
fn record_ending_at(file: &mut std::fs::File, end: u64) -> std::io::Result<Option<Record>> {
    if end == 0 {
        return Ok(None);
    }
    let span = (MAX_LINE_LEN as u64 + 1).min(end);
    file.seek(SeekFrom::Start(end - span))?;
    let mut bytes = vec![0; span as usize];
    file.read_exact(&mut bytes)?;
    if bytes.last() != Some(&b'\n') {
        return Ok(None);
    }
    bytes.pop();
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    Ok(Record::parse(&bytes[start..]).ok())
}

/// The first record of the file.
fn first_record(file: &mut std::fs::File) -> std::io::Result<Option<Record>> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.take(MAX_LINE_LEN as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes
        .iter()
        .position(|&b| b == b'\n')
        .and_then(|end| Record::parse(&bytes[..end]).ok()))
}

/// How far rsyslog (state in `rsyslog_dir`) has read the segments in `audit_dir`.
pub fn shipping(audit_dir: &Path, rsyslog_dir: &Path) -> Result<Shipping, ShippingError> {
    let states = match read_states(rsyslog_dir) {
        Ok(s) => s,
        Err(ShippingError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let segments = list_segments(audit_dir).map_err(io("cannot list", audit_dir))?;
    let mut out = Vec::new();
    for (n, path) in segments {
        let mut file = std::fs::File::open(&path).map_err(io("cannot open", &path))?;
        let meta = file.metadata().map_err(io("cannot read", &path))?;
        let size = meta.len();
        // The state of this very file: same name, and same inode when the state names one.
        let offset = states
            .iter()
            .filter(|s| s.filename == path && s.inode.is_none_or(|i| i == meta.ino()))
            .map(|s| s.offset.min(size))
            .max();
        let read = |f: &mut std::fs::File, end| record_ending_at(f, end);
        let first_seq = first_record(&mut file)
            .map_err(io("cannot read", &path))?
            .map(|r| r.seq);
        let last_seq = read(&mut file, size)
            .map_err(io("cannot read", &path))?
            .map(|r| r.seq);
        let read_up_to = match offset {
            Some(o) => read(&mut file, o)
                .map_err(io("cannot read", &path))?
                .map(|r| r.seq),
            None => None,
        };
        let waiting = match (first_seq, last_seq, read_up_to) {
            (_, Some(last), Some(read)) => last.saturating_sub(read),
            (Some(first), Some(last), None) => last.saturating_sub(first) + 1,
            _ => 0,
        };
        out.push(SegmentShipping {
            segment: segment_name(n),
            size,
            first_seq,
            last_seq,
            offset,
            read_up_to,
            waiting,
        });
    }
    Ok(Shipping {
        rsyslog_dir: rsyslog_dir.to_owned(),
        configured: out.iter().any(|s| s.offset.is_some()),
        waiting: out.iter().map(|s| s.waiting).sum(),
        segments: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_of_rsyslog_8_2302_parses() {
        let text = br#"{ "filename": "\/var\/lib\/cardgate\/audit\/audit-00000001.jsonl", "prev_was_nl": 0, "curr_offs": 16116, "strt_offs": 16116 }"#;
        let state = parse_state("imfile-state:10027137:24af20454f574cad", text).unwrap();
        assert_eq!(
            state,
            ImfileState {
                filename: "/var/lib/cardgate/audit/audit-00000001.jsonl".into(),
                inode: Some(10027137),
                offset: 16116,
            }
        );
        assert_eq!(parse_state("cardgate_ship.qi", text), None);
        assert_eq!(parse_state("imfile-state:1", b"{\"filename\":1}"), None);
        assert_eq!(parse_state("imfile-state:1", b"\xff"), None);
    }
}
