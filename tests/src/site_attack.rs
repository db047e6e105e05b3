//! What the strongest attacker on a terminal does to its audit log (issue 13, item 3): root,
//! with the terminal's k(0) recovered, so every seal key of the log (`k0.evolve_by(epoch)`).
//! Each leaves a log that the terminal's own `cardgatectl audit verify` with k(0) accepts and
//! that `cardgated` starts on again; only what was shipped before can tell.
//!
//! Run each with the terminal's `cardgated` stopped (the attacker stops it: a running daemon
//! holds the segment open and its chain in memory).

use crate::{HarnessError, Office};
use cardgate_audit::seal::{write_key_file, SealContext};
use cardgate_audit::segments::list_segments;
use cardgate_audit::{Digest, Event, Record, SealKey};
use std::path::{Path, PathBuf};

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> HarnessError + 'p {
    move |source| HarnessError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn bad(what: &str, detail: impl std::fmt::Display) -> HarnessError {
    HarnessError::CommandFailed {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}

/// The log's segments, each with its records.
fn read_log(dir: &Path) -> Result<Vec<(PathBuf, Vec<Record>)>, HarnessError> {
    let mut out = Vec::new();
    for (_, path) in list_segments(dir).map_err(io("cannot list", dir))? {
        let text = std::fs::read(&path).map_err(io("cannot read", &path))?;
        let mut records = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            records.push(
                Record::parse(line).map_err(|e| bad(&format!("parsing {}", path.display()), e))?,
            );
        }
        out.push((path, records));
    }
    Ok(out)
}

/// Renumbers, re-links and re-seals every record from the first on, each seal with its
/// epoch's key derived from `k0`; returns the lines per segment and the last seal's epoch.
fn rechain(
    segments: &mut [(PathBuf, Vec<Record>)],
    k0: &SealKey,
) -> Result<(Vec<Vec<u8>>, Option<u64>), HarnessError> {
    let log_id = match segments
        .first()
        .and_then(|(_, r)| r.first())
        .map(|r| &r.event)
    {
        Some(Event::Genesis { log_id, .. }) => *log_id,
        _ => return Err(bad("rechaining the log", "no genesis")),
    };
    let mut prev = Digest::default();
    let mut first_unsealed = 0;
    let mut seq = 0;
    let mut last_epoch = None;
    let mut files = Vec::new();
    for (_, records) in segments.iter_mut() {
        let mut text = Vec::new();
        for r in records.iter_mut() {
            r.seq = seq;
            r.prev = prev;
            if let Event::LogSealed(seal) = &mut r.event {
                let at = SealContext {
                    log_id: &log_id,
                    time: r.time,
                    terminal: &r.terminal,
                };
                let key = k0.evolve_by(seal.epoch);
                *seal = key.seal(&at, seal.epoch, first_unsealed, seq - 1, prev);
                last_epoch = Some(seal.epoch);
                first_unsealed = seq + 1;
            }
            let line = r.to_line();
            prev = Digest::sha256(&line);
            text.extend_from_slice(&line);
            text.push(b'\n');
            seq += 1;
        }
        files.push(text);
    }
    Ok((files, last_epoch))
}

/// Writes `text` over `path` as an editor does: a new file renamed over the old one.
fn replace_file(path: &Path, text: &[u8]) -> Result<(), HarnessError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot rename over", path))
}

fn k0_of(office: &Office) -> Result<SealKey, HarnessError> {
    SealKey::from_hex(&office.audit_key_hex).map_err(|e| bad("reading k(0)", e))
}

/// Rewrites the log: `change` edits the records it wants (returns whether it changed one),
/// then every record is re-linked and every seal re-made with its epoch's key from k(0). The
/// segments are replaced by new files (new inodes), the key file left as it is (the epochs
/// are the same). Returns the numbers of the records changed.
pub fn rewrite_and_reseal(
    office: &Office,
    mut change: impl FnMut(&mut Record) -> bool,
) -> Result<Vec<u64>, HarnessError> {
    let dir = office.dir.join("audit");
    let k0 = k0_of(office)?;
    let mut segments = read_log(&dir)?;
    let mut changed = Vec::new();
    for (_, records) in segments.iter_mut() {
        for r in records.iter_mut() {
            if change(r) {
                changed.push(r.seq);
            }
        }
    }
    if changed.is_empty() {
        return Err(bad("rewriting the log", "nothing to change"));
    }
    let (files, _) = rechain(&mut segments, &k0)?;
    for ((path, _), text) in segments.iter().zip(files) {
        replace_file(path, &text)?;
    }
    Ok(changed)
}

/// Truncates the log after record `keep_through` (the records after it gone, the segment cut
/// in place, later segments removed) and writes the key file the daemon expects after its last
/// seal (derived from k(0)), so that `cardgated` starts and continues the chain from there.
pub fn truncate_after(office: &Office, keep_through: u64) -> Result<(), HarnessError> {
    let dir = office.dir.join("audit");
    let k0 = k0_of(office)?;
    let segments = read_log(&dir)?;
    let mut last_epoch = None;
    for (path, records) in &segments {
        let first = records.first().map(|r| r.seq);
        if first.is_some_and(|f| f > keep_through) {
            std::fs::remove_file(path).map_err(io("cannot remove", path))?;
            continue;
        }
        let mut len = 0u64;
        for r in records.iter().take_while(|r| r.seq <= keep_through) {
            len += r.to_line().len() as u64 + 1;
            if let Event::LogSealed(seal) = &r.event {
                last_epoch = Some(seal.epoch);
            }
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io("cannot open", path))?;
        file.set_len(len).map_err(io("cannot truncate", path))?;
    }
    let epoch = last_epoch.ok_or_else(|| bad("truncating the log", "no seal kept"))? + 1;
    write_key_file(&dir, epoch, &k0.evolve_by(epoch)).map_err(|e| bad("writing the key file", e))
}

/// Deletes the log (segments, key files, everything in the audit directory) and starts a new
/// one with `cardgatectl audit init`, as a terminal reinstalled would; the office's k(0)
/// becomes the new log's.
pub fn replace_log(office: &mut Office) -> Result<(), HarnessError> {
    let dir = office.dir.join("audit");
    for entry in std::fs::read_dir(&dir).map_err(io("cannot list", &dir))? {
        let path = entry.map_err(io("cannot list", &dir))?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(io("cannot remove", &path))?;
        } else {
            std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
        }
    }
    let init = office.ctl_ok(&["audit", "init", "--dir", &dir.to_string_lossy()], "")?;
    office.audit_key_hex = init.lines().last().unwrap_or_default().trim().to_owned();
    Ok(())
}
