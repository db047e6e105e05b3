//! The checkpoint that ties one review to the next (art. 7): per log, the last record's
//! number and hash and the last seal's epoch, in a small JSON file the access manager keeps
//! off the machine. The next review proves that each log still extends it; a log deleted,
//! truncated, replaced by a fresh chain or rolled back between two reviews is a
//! [`FindingKind::LogNotExtended`], the most severe finding there is.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::findings::{Break, Detail, Finding, FindingKind};
use crate::record::{Digest, Event, LogId, Record, Timestamp};

/// The checkpoint file's format version.
pub const CHECKPOINT_FORMAT: u32 = 1;
/// A checkpoint file larger than this is refused unread.
pub const MAX_CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;
/// Most logs one checkpoint holds.
pub const MAX_CHECKPOINT_LOGS: usize = 16_384;

/// Where one log stood at the end of a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCheckpoint {
    /// The log's identity (its genesis record's `log_id`).
    pub log_id: LogId,
    /// The host that wrote it (its genesis record's terminal): how a log replaced by a fresh
    /// chain is recognised.
    pub host: String,
    /// The terminals its records name, for the person reading the file.
    pub terminals: Vec<String>,
    /// The last record's number.
    pub seq: u64,
    /// SHA-256 of that record's line.
    pub hash: Digest,
    /// The time of that record.
    pub time: Timestamp,
    /// The last seal's epoch (absent when the log had no seal yet).
    pub seal_epoch: Option<u64>,
}

/// The end of a review, for the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: u32,
    /// When the review that made it ran.
    pub made: Timestamp,
    /// One entry per log reviewed.
    pub logs: Vec<LogCheckpoint>,
}

/// Why a checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Over [`MAX_CHECKPOINT_BYTES`] or [`MAX_CHECKPOINT_LOGS`].
    #[error("{path}: the checkpoint is too large")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// Not a checkpoint.
    #[error("{path}: not a cardgate review checkpoint: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A format this version does not read.
    #[error("{path}: checkpoint format {found}, this version reads format {CHECKPOINT_FORMAT}")]
    Format {
        /// The file.
        path: String,
        /// The format it says.
        found: u32,
    },
}

impl Checkpoint {
    /// The file's text: pretty JSON, one key a line, ending in a newline.
    pub fn to_json(&self) -> String {
        // Every field is a plain value or a checked string: this cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Parses a checkpoint file's bytes; `name` is what errors call it.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, CheckpointError> {
        let path = name.to_owned();
        if bytes.len() as u64 > MAX_CHECKPOINT_BYTES {
            return Err(CheckpointError::TooLarge { path });
        }
        // The version first, so that a future format is named as such rather than as garbage.
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|source| CheckpointError::Json {
                path: path.clone(),
                source,
            })?;
        if version.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Format {
                path,
                found: version.format,
            });
        }
        let checkpoint: Checkpoint =
            serde_json::from_slice(bytes).map_err(|source| CheckpointError::Json {
                path: path.clone(),
                source,
            })?;
        if checkpoint.logs.len() > MAX_CHECKPOINT_LOGS {
            return Err(CheckpointError::TooLarge { path });
        }
        Ok(checkpoint)
    }

    /// Reads a checkpoint file (size capped).
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        use std::io::Read;
        let name = path.display().to_string();
        let io = |source| CheckpointError::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_CHECKPOINT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Self::parse(&bytes, &name)
    }

    /// Writes the checkpoint file atomically (a crash leaves the old file or the new one).
    pub fn write(&self, path: &Path) -> Result<(), CheckpointError> {
        cardgate_office::files::write_atomic(path, self.to_json().as_bytes(), 0o644).map_err(
            |source| CheckpointError::Io {
                path: path.display().to_string(),
                source,
            },
        )
    }
}

/// What the review read of one log, for the checkpoint and its check: never a hash of every
/// record, only the one the previous checkpoint asks of this log and the last line.
#[derive(Debug, Clone)]
pub(crate) struct LogState {
    /// The directory, as the review names it.
    pub dir: String,
    /// The genesis record's log ID and terminal, when the log starts with one.
    pub log_id: Option<LogId>,
    pub host: Option<String>,
    pub terminals: Vec<String>,
    /// The record numbers the previous checkpoint asks of this log (its entries with this
    /// log's ID), with the hash of the first record read at each.
    pub wanted: Vec<(u64, Option<Digest>)>,
    /// `(seq, hash, time)` of the last record read (after [`LogState::end`]).
    pub last: Option<(u64, Digest, Timestamp)>,
    /// The last record's line and its number and time, until [`LogState::end`] hashes it.
    last_line: Vec<u8>,
    last_record: Option<(u64, Timestamp)>,
    /// The last seal's epoch.
    pub seal_epoch: Option<u64>,
    /// The log verified (its key file included).
    pub intact: bool,
}

impl LogState {
    /// Nothing read yet of the log `dir`.
    pub fn new(dir: &str) -> Self {
        LogState {
            dir: dir.to_owned(),
            log_id: None,
            host: None,
            terminals: Vec::new(),
            wanted: Vec::new(),
            last: None,
            last_line: Vec::new(),
            last_record: None,
            seal_epoch: None,
            intact: false,
        }
    }

    /// Takes the next record of the log and its line; `previous` says which hashes to keep.
    pub fn see(&mut self, r: &Record, line: &[u8], previous: Option<&Checkpoint>) {
        match &r.event {
            Event::Genesis { log_id, .. } if r.seq == 0 => {
                self.log_id = Some(*log_id);
                self.host = Some(r.terminal.as_str().to_owned());
                self.wanted = previous
                    .map(|p| {
                        p.logs
                            .iter()
                            .filter(|e| e.log_id == *log_id)
                            .map(|e| (e.seq, None))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Event::LogSealed(seal) => self.seal_epoch = Some(seal.epoch),
            _ => {}
        }
        for (seq, hash) in &mut self.wanted {
            if *seq == r.seq && hash.is_none() {
                *hash = Some(Digest::sha256(line));
            }
        }
        self.last_line.clear();
        self.last_line.extend_from_slice(line);
        self.last_record = Some((r.seq, r.time));
    }

    /// The log is read: hashes its last line.
    pub fn end(&mut self) {
        if let Some((seq, time)) = self.last_record.take() {
            self.last = Some((seq, Digest::sha256(&self.last_line), time));
        }
        self.last_line = Vec::new();
    }

    fn last(&self) -> Option<&(u64, Digest, Timestamp)> {
        self.last.as_ref()
    }

    fn hash_at(&self, seq: u64) -> Option<Digest> {
        self.wanted
            .iter()
            .find(|(s, _)| *s == seq)
            .and_then(|(_, h)| *h)
    }
}

/// The checkpoint of the logs as read now.
pub(crate) fn make(logs: &[LogState], made: Timestamp) -> Checkpoint {
    let logs = logs
        .iter()
        .filter_map(|l| {
            let (seq, hash, time) = *l.last()?;
            Some(LogCheckpoint {
                log_id: l.log_id?,
                host: l.host.clone()?,
                terminals: l.terminals.clone(),
                seq,
                hash,
                time,
                seal_epoch: l.seal_epoch,
            })
        })
        .collect();
    Checkpoint {
        format: CHECKPOINT_FORMAT,
        made,
        logs,
    }
}

/// The findings of `previous` against the logs as read now: one per log that does not extend
/// its entry.
pub(crate) fn check(previous: &Checkpoint, logs: &[LogState]) -> Vec<Finding> {
    let mut out = Vec::new();
    for entry in &previous.logs {
        let same = logs.iter().find(|l| l.log_id == Some(entry.log_id));
        let finding = |how: Break, log: Option<&LogState>| {
            let mut f = Finding::new(
                FindingKind::LogNotExtended,
                Detail::LogNotExtended {
                    how,
                    checkpoint_seq: entry.seq,
                    checkpoint_epoch: entry.seal_epoch,
                    found_seq: log.and_then(|l| l.last()).map(|h| h.0),
                    found_epoch: log.and_then(|l| l.seal_epoch),
                },
            );
            f.log = Some(log.map_or_else(|| entry.host.clone(), |l| l.dir.clone()));
            f.terminal = entry.terminals.first().cloned();
            f.time = Some(entry.time);
            f
        };
        let Some(log) = same else {
            let replaced = logs
                .iter()
                .find(|l| l.host.as_deref() == Some(entry.host.as_str()));
            out.push(match replaced {
                Some(l) => finding(Break::Replaced, Some(l)),
                None => finding(Break::Missing, None),
            });
            continue;
        };
        let how = match log.hash_at(entry.seq) {
            // Shorter than it was. An older copy put back is whole in itself (its key file
            // went back with it); records cut from the log leave it ending before its key
            // file's epoch, or mid-seal.
            None if log.intact => Some(Break::RolledBack),
            None => Some(Break::Truncated),
            Some(h) if h != entry.hash => Some(Break::Rewritten),
            Some(_) if log.seal_epoch < entry.seal_epoch => Some(Break::RolledBack),
            Some(_) => None,
        };
        if let Some(how) = how {
            out.push(finding(how, Some(log)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            format: CHECKPOINT_FORMAT,
            made: Timestamp::parse("2026-12-01T08:00:00.000Z").unwrap(),
            logs: vec![LogCheckpoint {
                log_id: LogId([7; 16]),
                host: "juki-host".into(),
                terminals: vec!["juki-01".into(), "juki-02".into()],
                seq: 41,
                hash: Digest([9; 32]),
                time: Timestamp::parse("2026-11-30T08:00:00.000Z").unwrap(),
                seal_epoch: Some(3),
            }],
        }
    }

    #[test]
    fn a_checkpoint_file_round_trips_and_names_its_format() {
        let c = sample();
        let text = c.to_json();
        assert!(text.contains("\"format\": 1"), "{text}");
        assert!(text.contains(&"09".repeat(32)), "{text}");
        assert_eq!(Checkpoint::parse(text.as_bytes(), "cp.json").unwrap(), c);
        let dir = std::env::temp_dir().join(format!("cardgate-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.json");
        c.write(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap(), c);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_checkpoint_file_is_refused_with_its_name() {
        let future = sample().to_json().replace("\"format\": 1", "\"format\": 2");
        assert!(matches!(
            Checkpoint::parse(future.as_bytes(), "cp.json"),
            Err(CheckpointError::Format { found: 2, .. })
        ));
        let extra = sample()
            .to_json()
            .replacen("\"format\": 1", "\"format\": 1, \"x\": 0", 1);
        assert!(matches!(
            Checkpoint::parse(extra.as_bytes(), "cp.json"),
            Err(CheckpointError::Json { .. })
        ));
        let upper = sample()
            .to_json()
            .replace(&"09".repeat(32), &"0A".repeat(32));
        assert!(Checkpoint::parse(upper.as_bytes(), "cp.json").is_err());
        let big = vec![b' '; MAX_CHECKPOINT_BYTES as usize + 1];
        assert!(matches!(
            Checkpoint::parse(&big, "cp.json"),
            Err(CheckpointError::TooLarge { .. })
        ));
        let e = Checkpoint::parse(b"{}", "/x/cp.json").unwrap_err();
        assert!(e.to_string().contains("/x/cp.json"), "{e}");
        let missing = Checkpoint::read(Path::new("/nonexistent/cp.json")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/cp.json"));
    }
}
