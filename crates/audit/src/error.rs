//! The error types, one per layer: parsing a line, the store (open/append/seal), the
//! command-line functions.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Why one audit line could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The line is longer than [`crate::record::MAX_LINE_LEN`].
    #[error("line is {len} bytes, longer than the {max}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The line is not a record (bad JSON, unknown kind, bad field).
    #[error("not a valid audit record")]
    Json(#[source] serde_json::Error),
    /// The line parses, but is not byte for byte what the writer would have written.
    #[error("not in canonical form (the writer never writes a record like this)")]
    NotCanonical,
}

/// Why a field given to the writer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// Empty where a value is needed.
    #[error("must not be empty")]
    Empty,
    /// Too long.
    #[error("longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Holds a control character.
    #[error("holds a control character")]
    ControlCharacter,
    /// Not 16 hex digits / 32 bytes of lowercase hex, etc.
    #[error("not well-formed hex of the right length")]
    BadHex,
    /// Not an RFC 3339 UTC time with milliseconds.
    #[error("not an RFC 3339 UTC time with milliseconds (YYYY-MM-DDThh:mm:ss.mmmZ)")]
    BadTime,
}

/// Errors of the log store: init, open, append, seal.
///
/// I/O errors are shared (`Arc`) because one failed group commit fails every append in it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk (or quota) is full: nothing of this append was kept, earlier records are intact.
    #[error("audit log {path}: disk full while {op}")]
    DiskFull {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// Any other I/O error.
    #[error("audit log {path}: I/O error while {op}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// An earlier fsync or key-file write failed; the writer refuses further appends until the
    /// log is opened again (which re-reads what is really on disk).
    #[error("audit writer stopped after an earlier I/O failure; reopen the log")]
    Poisoned,
    /// The writer thread is gone (the log was closed).
    #[error("audit writer is closed")]
    Closed,
    /// Another process holds the log (normally cardgated).
    #[error("audit log {0} is held by another writer (is cardgated running?)")]
    Locked(PathBuf),
    /// No log in this directory.
    #[error("no audit log in {0} (run `cardgatectl audit init`)")]
    NotInitialised(PathBuf),
    /// `init` on a directory that already has a log.
    #[error("{0} already holds an audit log")]
    AlreadyInitialised(PathBuf),
    /// The sealing key file is missing or malformed.
    #[error("sealing key file {0} is missing or malformed")]
    BadKeyFile(PathBuf),
    /// The key file and the log disagree about the epoch: seals are missing from the log, or the
    /// key file was replaced.
    #[error("sealing key is at epoch {key_epoch} but the log's last seal is epoch {last_seal_epoch:?}: the log was truncated or replaced; run `cardgatectl audit verify`")]
    KeyDoesNotMatchLog {
        /// Epoch of the key file.
        key_epoch: u64,
        /// Epoch of the last seal in the log.
        last_seal_epoch: Option<u64>,
    },
    /// A complete line at the end of the log cannot be read, so the writer cannot continue the
    /// chain. (A torn last line is quarantined instead; this is damage.)
    #[error("audit log {file} line {line}: cannot continue the chain")]
    Corrupt {
        /// The segment file.
        file: PathBuf,
        /// Line number, from 1.
        line: u64,
        /// Why.
        #[source]
        source: Arc<ParseError>,
    },
    /// A write or fdatasync failed and the unacknowledged records it left in the segment could
    /// not be cut off: a re-open would read them as written, so they must not be written a
    /// second time (the request they belong to stays refused).
    #[error("audit log {path}: {op} failed, and the unacknowledged records could not be cut off")]
    NotCutOff {
        /// What was being done.
        op: &'static str,
        /// The segment file.
        path: PathBuf,
        /// The OS error of the write or fdatasync.
        #[source]
        source: Arc<io::Error>,
    },
    /// A field of the entry was refused.
    #[error("audit entry field {field}: {source}")]
    Field {
        /// Which field.
        field: &'static str,
        /// Why.
        #[source]
        source: FieldError,
    },
}

impl StoreError {
    /// Wraps an I/O error, telling disk-full apart from the rest.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        let full = matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        );
        let source = Arc::new(source);
        if full {
            StoreError::DiskFull { op, path, source }
        } else {
            StoreError::Io { op, path, source }
        }
    }

    /// True for disk full / quota exceeded.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }
}
