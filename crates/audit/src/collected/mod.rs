//! The central verification of the logs a site's collector holds (issue 13; art. 7: the access
//! manager checks every terminal's use in one place).
//!
//! Each terminal's rsyslog ships its audit segments line by line over RELP; the collector's
//! rsyslog writes them to `<root>/<H>/*.jsonl` (see `docs/integration.md`). Lines may arrive
//! twice, out of order (segments are shipped file by file), or never. This module:
//!
//! * lists the terminals under a root ([`list_terminals`]);
//! * streams one terminal's files ([`TerminalStream`]), rebuilding and verifying its chain as
//!   it goes, and hands out its records in sequence order, each once (for the review);
//! * reports per terminal ([`TerminalReport`]): verified up to which record, gaps, duplicates,
//!   out-of-order and late arrivals, conflicts with what was already witnessed, a fresh chain,
//!   lines that are not records, silence, and the checkpoint of an earlier run not extended.
//!
//! Speed: ordinary records are not parsed as JSON; their fixed parts are read in place
//! ([`line`](mod@line)) and only genesis and seal records are parsed whole. Under a valid seal MAC the
//! bytes of every record it covers are authenticated, so this is sound; see `docs/audit.md`,
//! "Collected logs".

mod chain;
pub mod line;
mod reader;
pub mod report;
pub mod root;
mod stream;

use std::path::PathBuf;

pub use chain::problem_code;
pub use report::{BadLine, Finding, FindingKind, Gap, ProblemReport, Severity, TerminalReport};
pub use root::{host_name_problem, list_files, list_terminals, Terminal};
pub use stream::{CollectedRecord, Judge, StreamOptions, TerminalStream, MAX_GAPS};

use crate::record::Timestamp;
use crate::report::{Checkpoint, LogCheckpoint, CHECKPOINT_FORMAT};

/// Why the collected files could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectedError {
    /// The root does not exist.
    #[error("{path}: no such directory of collected logs")]
    NoRoot {
        /// The root.
        path: PathBuf,
    },
    /// The root, or an entry of it, is not a directory.
    #[error("{path}: not a directory (the collected root holds one directory per terminal)")]
    NotADirectory {
        /// What.
        path: PathBuf,
    },
    /// An entry of the root is not a terminal name.
    #[error("{path}: not a terminal's name: {why}")]
    BadHost {
        /// The entry.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `*.jsonl` that is not a regular file.
    #[error("{path}: not a regular file")]
    NotARegularFile {
        /// The file.
        path: PathBuf,
    },
    /// More terminals or files than this version reads.
    #[error("{path}: more than {max} entries")]
    TooMany {
        /// The directory.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// An I/O error.
    #[error("{path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The checkpoint entry of an earlier run for the terminal `host`: the entry whose first
/// `terminals` name is `host` (what [`checkpoint`] writes), else the one whose `host` (the
/// genesis terminal) is.
pub fn witnessed<'a>(previous: &'a Checkpoint, host: &str) -> Option<&'a LogCheckpoint> {
    witnessed_index(previous, host).and_then(|i| previous.logs.get(i))
}

fn witnessed_index(previous: &Checkpoint, host: &str) -> Option<usize> {
    let logs = &previous.logs;
    logs.iter()
        .rposition(|e| e.terminals.first().map(String::as_str) == Some(host))
        .or_else(|| logs.iter().rposition(|e| e.host == host))
}

/// The entries of `previous` that no terminal under the root claims (its directory is gone).
pub fn unclaimed<'a>(previous: &'a Checkpoint, terminals: &[Terminal]) -> Vec<&'a LogCheckpoint> {
    let claimed: std::collections::BTreeSet<usize> = terminals
        .iter()
        .filter_map(|t| witnessed_index(previous, &t.host))
        .collect();
    previous
        .logs
        .iter()
        .enumerate()
        .filter(|(i, _)| !claimed.contains(i))
        .map(|(_, e)| e)
        .collect()
}

/// The checkpoint of this run: per terminal, its last chain's log ID, genesis terminal (as
/// `host`, as `audit report` writes it), the collector's directory name (as the first of
/// `terminals`), last record, its hash and time, and the last seal's epoch.
pub fn checkpoint(reports: &[TerminalReport], made: Timestamp) -> Checkpoint {
    Checkpoint {
        format: CHECKPOINT_FORMAT,
        made,
        logs: reports
            .iter()
            .filter_map(|r| r.checkpoint.clone())
            .collect(),
    }
}
