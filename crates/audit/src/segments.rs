//! Segment files: `audit-00000001.jsonl`, `audit-00000002.jsonl`, … The chain runs through
//! them in number order; rotation only starts a new file.

use std::io;
use std::path::{Path, PathBuf};

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

/// File name of segment `n`.
pub fn segment_name(n: u64) -> String {
    format!("{PREFIX}{n:08}{SUFFIX}")
}

/// Segment number from a file name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, in number order.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Name of a quarantine file for a torn tail found when the next record would be `next_seq`.
pub fn quarantine_name(next_seq: u64, unix_ms: i64) -> String {
    format!("quarantine-{next_seq:020}-{unix_ms}.bin")
}

/// Quarantine files in `dir` named for `next_seq`: torn tails not yet recorded.
pub fn pending_quarantine(dir: &Path, next_seq: u64) -> io::Result<Vec<String>> {
    let prefix = format!("quarantine-{next_seq:020}-");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            if name.starts_with(&prefix) && name.ends_with(".bin") {
                out.push(name.to_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}
