//! What the central verification says about one terminal, and its findings.

use serde::Serialize;

use crate::record::Timestamp;
use crate::report::LogCheckpoint;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// The terminal's history no longer matches what was witnessed, or does not verify.
    Critical,
    /// Records are missing or cannot be compared: someone must find out why.
    High,
    /// Worth a look.
    Check,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The chain does not verify (see `problem`).
    ChainBroken,
    /// A different line arrived for a record already taken: the terminal's log no longer
    /// matches what the collector holds (rewritten, or truncated and continued).
    Conflict,
    /// A genesis with another log ID: the terminal's log was deleted and started afresh.
    Replaced,
    /// Records missing between records that arrived.
    Gap,
    /// A record arrived again too long after it was taken to be compared: the terminal's log
    /// was replaced or its shipping state (imfile's position) lost.
    ResentTooOld,
    /// Records arrived after their gap had been declared (beyond the reorder window).
    Late,
    /// Lines that are not records (unreadable, over 16 KiB).
    NotRecords,
    /// No record for longer than `--silent-after`, and the last one is not a stop.
    Silent,
    /// The terminal's directory holds no record.
    Empty,
    /// The collected copy no longer extends the checkpoint of an earlier run.
    NotExtended,
    /// A record dated after the run's time.
    Future,
    /// Lines numbered more than the reorder window ahead of the records still missing.
    FarAhead,
}

impl FindingKind {
    /// The severity of this kind.
    pub fn severity(self) -> Severity {
        match self {
            FindingKind::ChainBroken
            | FindingKind::Conflict
            | FindingKind::Replaced
            | FindingKind::NotExtended => Severity::Critical,
            FindingKind::Gap
            | FindingKind::ResentTooOld
            | FindingKind::NotRecords
            | FindingKind::Silent
            | FindingKind::Late
            | FindingKind::Future
            | FindingKind::FarAhead => Severity::High,
            FindingKind::Empty => Severity::Check,
        }
    }

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ChainBroken => "chain_broken",
            FindingKind::Conflict => "conflict",
            FindingKind::Replaced => "replaced",
            FindingKind::Gap => "gap",
            FindingKind::ResentTooOld => "resent_too_old",
            FindingKind::Late => "late",
            FindingKind::NotRecords => "not_records",
            FindingKind::Silent => "silent",
            FindingKind::Empty => "empty",
            FindingKind::NotExtended => "not_extended",
            FindingKind::Future => "future",
            FindingKind::FarAhead => "far_ahead",
        }
    }
}

/// One finding about one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// The record it is about, when one.
    pub seq: Option<u64>,
    /// What happened, in English (the table says it in the reader's language).
    pub text: String,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, seq: Option<u64>, text: String) -> Self {
        Finding {
            kind,
            severity: kind.severity(),
            seq,
            text,
        }
    }
}

/// A range of records that never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The first missing record.
    pub first: u64,
    /// The last.
    pub last: u64,
}

/// The first problem of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemReport {
    /// The record.
    pub seq: u64,
    /// The verifier's name of it (`broken_link`, `seal_mac`, …).
    pub kind: &'static str,
    /// What, in English.
    pub text: String,
}

/// The first line that is not a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    /// The file.
    pub file: String,
    /// The line number in it, from 1.
    pub line: u64,
    /// Why.
    pub why: String,
}

/// Where a terminal's collected log stands. Serialized as the contract's JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalReport {
    /// The host name (the directory).
    pub host: String,
    /// The log ID of the chain the report is about (the last genesis taken), in hex.
    pub log_id: Option<String>,
    /// The terminal the genesis names.
    pub terminal: Option<String>,
    /// The seals' MACs were checked with this terminal's k(0).
    pub key_checked: bool,
    /// Lines read.
    pub lines: u64,
    /// Records taken (each once, in sequence order), over every chain.
    pub records: u64,
    /// The last record taken.
    pub last_seq: Option<u64>,
    /// Every record 0..=N present once, linked, and (with a key) under a valid seal.
    pub verified_up_to: Option<u64>,
    /// The last seal's epoch.
    pub seal_epoch: Option<u64>,
    /// The first record after the last seal.
    pub unsealed_from: Option<u64>,
    /// Missing ranges (the first [`super::MAX_GAPS`]).
    pub gaps: Vec<Gap>,
    /// How many missing ranges in all.
    pub gap_ranges: u64,
    /// How many records they miss.
    pub missing: u64,
    /// Lines that arrived again, identical.
    pub duplicates: u64,
    /// Lines that arrived before a record with a lower number they follow.
    pub out_of_order: u64,
    /// Lines that arrived after their gap was declared.
    pub late: u64,
    /// Lines that arrived again too long after to be compared.
    pub resent_too_old: u64,
    /// Different lines for a record number already taken (or waiting).
    pub conflicts: u64,
    /// The record number of the first conflict.
    pub first_conflict: Option<u64>,
    /// A fresh chain (another log ID) followed the first one.
    pub replaced: bool,
    /// The log IDs of the chains it replaced, in hex.
    pub replaced_log_ids: Vec<String>,
    /// The first problem of the chain.
    pub problem: Option<ProblemReport>,
    /// How many problems in all.
    pub problems: u64,
    /// Lines that are not records.
    pub not_records: u64,
    /// The first of them.
    pub first_not_record: Option<BadLine>,
    /// Bytes after the last newline of the last file (a line being written), not read.
    pub partial_tail: u64,
    /// The last record's time.
    pub last_time: Option<Timestamp>,
    /// The last record's kind.
    pub last_kind: Option<String>,
    /// Silent: see the contract (`--silent-after`).
    pub silent: bool,
    /// What the access manager must look at.
    pub findings: Vec<Finding>,
    /// Where the terminal's last chain stands, for the next run's checkpoint (`None` without
    /// a genesis).
    #[serde(skip)]
    pub checkpoint: Option<LogCheckpoint>,
}

impl TerminalReport {
    /// The worst finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}
