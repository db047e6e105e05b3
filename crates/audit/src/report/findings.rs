//! What the review finds: one typed [`Finding`] per thing the access manager must look at,
//! with a stable [`FindingKind`] and the data the presentation renders (in Japanese or
//! English) and the tests compare; no sentence is made here.

use serde::Serialize;

use crate::record::Timestamp;
use cardgate_office::calendar::{ClosedReason, Holiday};

/// How bad a finding is. The presentation puts `Critical` at the top, in red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The log itself cannot be trusted: it does not verify, or it no longer extends the
    /// last review's checkpoint (deleted, truncated, replaced, rolled back).
    Critical,
    /// A card used by someone it should not be: revoked, returned, never issued, on two
    /// terminals at once, bursts of failed PINs, a record missing.
    High,
    /// Use at a time the office is closed; a session never ended; a refused PUK.
    Medium,
}

/// What kind of finding. The names are stable (they are the JSON `kind` and what tests and
/// the presentation match on); new kinds are added at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The log does not extend the previous review's checkpoint: deleted, truncated, replaced
    /// by a fresh chain, or rolled back (see [`Detail::LogNotExtended`]).
    LogNotExtended,
    /// The log did not verify (see [`Detail::LogNotIntact`]).
    LogNotIntact,
    /// Record numbers are missing between two records that were read.
    RecordGap,
    /// A card on the revocation list, or returned or revoked in the register, was presented.
    RevokedCardPresented,
    /// A card whose certificate was rejected (unknown issuer, expired, …) was presented.
    UnknownCardPresented,
    /// A card that was never issued was used: not in the register the review was given, or
    /// (without a register) never issued in the logs reviewed.
    CardNeverIssued,
    /// A card was used after it was returned or revoked.
    UseAfterReturn,
    /// One card in sessions on two terminals at once.
    CardOnTwoTerminals,
    /// One operator in sessions on two terminals at once (with two cards).
    OperatorOnTwoTerminals,
    /// Wrong PINs in a burst (per card or per terminal).
    FailedPinBurst,
    /// Denied logins in a burst (per card or per terminal).
    DenialBurst,
    /// A session started on a national holiday.
    OnNationalHoliday,
    /// A session started on a day the office is closed.
    OnClosedDay,
    /// A session outside business hours (started outside them, or ran past them:
    /// [`Detail::Hours`]), or an attempt the daemon refused because it came outside them
    /// ([`Detail::None`], the record is the refusal).
    OutsideBusinessHours,
    /// A session that was never ended.
    SessionNeverEnded,
    /// A card refused a PUK, or was offered one while its PUK was blocked.
    PukRejected,
    /// An issuance or unblock was refused: no access manager's card authenticated.
    ManagerRefused,
    /// A lock was asked for (card pulled, idle, hours) but the screen did not lock: logind
    /// refused it, or the graphical session's locker did not confirm it (`LockedHint`). The
    /// daemon ended the session instead (a console, which has no locker, is not a finding).
    LockNotHeld,
    /// The smart-card service (pcscd) went away while the daemon ran: no card presence could
    /// be known until it came back, and the open sessions were locked.
    ReaderServiceLost,
    /// A collected terminal: another line arrived for a record the collector already holds.
    /// The terminal's log no longer matches what was witnessed: rewritten (and perhaps
    /// re-sealed with recovered keys), or truncated and continued (see [`Detail::Terminal`]).
    TerminalConflict,
    /// A collected terminal's log started afresh: a genesis with another log ID (deleted and
    /// initialised again).
    TerminalReplaced,
    /// A collected terminal sent records again too long after they were taken to compare
    /// them: its log file was replaced or its shipping position lost.
    TerminalResent,
    /// Lines in a collected terminal's files that are not records (unreadable, too long).
    TerminalUnreadable,
    /// A collected terminal stopped reporting: its last record is older than the silence
    /// allowed, and it is not the daemon's stop.
    TerminalSilent,
    /// Records of a collected terminal arrived after their gap had been declared.
    TerminalLate,
    /// A collected terminal's directory holds no record.
    TerminalEmpty,
}

impl FindingKind {
    /// How bad.
    pub fn severity(self) -> Severity {
        match self {
            FindingKind::LogNotExtended
            | FindingKind::LogNotIntact
            | FindingKind::TerminalConflict
            | FindingKind::TerminalReplaced => Severity::Critical,
            FindingKind::RecordGap
            | FindingKind::TerminalResent
            | FindingKind::TerminalUnreadable
            | FindingKind::TerminalSilent
            | FindingKind::RevokedCardPresented
            | FindingKind::UnknownCardPresented
            | FindingKind::CardNeverIssued
            | FindingKind::UseAfterReturn
            | FindingKind::CardOnTwoTerminals
            | FindingKind::OperatorOnTwoTerminals
            | FindingKind::FailedPinBurst
            | FindingKind::DenialBurst => Severity::High,
            FindingKind::OnNationalHoliday
            | FindingKind::OnClosedDay
            | FindingKind::OutsideBusinessHours
            | FindingKind::SessionNeverEnded
            | FindingKind::PukRejected
            | FindingKind::ManagerRefused
            | FindingKind::LockNotHeld
            | FindingKind::ReaderServiceLost
            | FindingKind::TerminalLate
            | FindingKind::TerminalEmpty => Severity::Medium,
        }
    }

    /// The stable name (`session_never_ended`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::LogNotExtended => "log_not_extended",
            FindingKind::LogNotIntact => "log_not_intact",
            FindingKind::RecordGap => "record_gap",
            FindingKind::RevokedCardPresented => "revoked_card_presented",
            FindingKind::UnknownCardPresented => "unknown_card_presented",
            FindingKind::CardNeverIssued => "card_never_issued",
            FindingKind::UseAfterReturn => "use_after_return",
            FindingKind::CardOnTwoTerminals => "card_on_two_terminals",
            FindingKind::OperatorOnTwoTerminals => "operator_on_two_terminals",
            FindingKind::FailedPinBurst => "failed_pin_burst",
            FindingKind::DenialBurst => "denial_burst",
            FindingKind::OnNationalHoliday => "on_national_holiday",
            FindingKind::OnClosedDay => "on_closed_day",
            FindingKind::OutsideBusinessHours => "outside_business_hours",
            FindingKind::SessionNeverEnded => "session_never_ended",
            FindingKind::PukRejected => "puk_rejected",
            FindingKind::ManagerRefused => "manager_refused",
            FindingKind::LockNotHeld => "lock_not_held",
            FindingKind::ReaderServiceLost => "reader_service_lost",
            FindingKind::TerminalConflict => "terminal_conflict",
            FindingKind::TerminalReplaced => "terminal_replaced",
            FindingKind::TerminalResent => "terminal_resent",
            FindingKind::TerminalUnreadable => "terminal_unreadable",
            FindingKind::TerminalSilent => "terminal_silent",
            FindingKind::TerminalLate => "terminal_late",
            FindingKind::TerminalEmpty => "terminal_empty",
        }
    }
}

/// One record of one log: the log (its directory, as the review read it) and the record's
/// number in it. Record numbers are per log: two logs both have a record 31.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RecordRef {
    /// The log's directory (canonical path).
    pub log: String,
    /// The record's sequence number in that log.
    pub seq: u64,
}

/// How a log failed to extend the previous review's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// No log of that identity or host was given to this review (deleted, or not collected).
    Missing,
    /// The host's log is another chain (its genesis differs): the log was deleted and
    /// initialised afresh.
    Replaced,
    /// The log ends before the checkpoint's record and does not verify at its end: records
    /// were cut from it.
    Truncated,
    /// The record at the checkpoint's number has another hash: the log was rewritten.
    Rewritten,
    /// The log ends before the checkpoint's record but is whole in itself (its key file
    /// went back with it): an older copy was put back. Also: the seal epoch went back.
    RolledBack,
}

/// Why a session was never ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeverEnded {
    /// Another login on the same terminal came first.
    Superseded,
    /// The daemon started again while it was open.
    DaemonRestarted,
    /// Still open at the end of the log.
    OpenAtEnd,
}

/// What a burst was counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BurstScope {
    /// One card (on any terminal).
    Card,
    /// One terminal (with any card).
    Terminal,
}

/// How a card was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withdrawal {
    /// Returned to the access manager.
    Returned,
    /// Revoked.
    Revoked,
}

/// What shows that a card was never issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeverIssuedBasis {
    /// It is not in the card register given to the review.
    NotInRegister,
    /// No register was given, and no log reviewed records its issue.
    NoIssueRecord,
}

/// The data of a finding, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Detail {
    /// Nothing more than the common fields (for [`FindingKind::OutsideBusinessHours`]: an
    /// attempt the daemon refused for the hours; its record is the refusal).
    None,
    /// [`FindingKind::LogNotExtended`].
    LogNotExtended {
        /// How.
        how: Break,
        /// The checkpoint's record number.
        checkpoint_seq: u64,
        /// The checkpoint's seal epoch.
        checkpoint_epoch: Option<u64>,
        /// The log's last record number now (absent when missing).
        found_seq: Option<u64>,
        /// The log's last seal epoch now.
        found_epoch: Option<u64>,
    },
    /// [`FindingKind::LogNotIntact`].
    LogNotIntact {
        /// The last record that verified.
        intact_up_to: Option<u64>,
        /// The first bad record (or the record after the end, for problems at the end).
        first_bad: u64,
        /// What is wrong (the verifier's words).
        problem: String,
        /// The first seal failed with the key given: the key may be wrong (mistyped, or
        /// another log's).
        key_may_be_wrong: bool,
    },
    /// [`FindingKind::RecordGap`]: records `first_missing..=last_missing` are not there.
    RecordGap {
        /// The first missing number.
        first_missing: u64,
        /// The last missing number.
        last_missing: u64,
    },
    /// [`FindingKind::RevokedCardPresented`].
    Revoked {
        /// Why it was revoked (`lost`, `returned`, …).
        reason: String,
    },
    /// [`FindingKind::UnknownCardPresented`].
    CertificateRejected {
        /// Why (`unknown_issuer`, `expired`, …).
        reason: String,
    },
    /// [`FindingKind::CardNeverIssued`].
    NeverIssued {
        /// What shows it.
        basis: NeverIssuedBasis,
    },
    /// [`FindingKind::UseAfterReturn`].
    AfterWithdrawal {
        /// Returned or revoked.
        how: Withdrawal,
        /// When (absent when the return is not in the logs reviewed).
        at: Option<Timestamp>,
        /// The record of the return or revocation.
        record: Option<RecordRef>,
        /// The daemon refused the card (it was presented, not used).
        refused: bool,
    },
    /// [`FindingKind::CardOnTwoTerminals`], [`FindingKind::OperatorOnTwoTerminals`].
    TwoTerminals {
        /// The other terminal.
        other_terminal: String,
        /// Since when the session there was open.
        other_since: Timestamp,
        /// Its login record.
        other_record: RecordRef,
        /// The card used there.
        other_card: Option<String>,
    },
    /// [`FindingKind::FailedPinBurst`], [`FindingKind::DenialBurst`].
    Burst {
        /// Per card or per terminal.
        scope: BurstScope,
        /// How many events.
        count: u32,
        /// The threshold window, in minutes.
        window_minutes: u32,
    },
    /// [`FindingKind::OnNationalHoliday`].
    Holiday {
        /// The holiday.
        holiday: Holiday,
    },
    /// [`FindingKind::OnClosedDay`].
    ClosedDay {
        /// The local date.
        #[serde(serialize_with = "cardgate_office::calendar::serialize_date")]
        date: time::Date,
        /// Why closed.
        reason: ClosedReason,
    },
    /// [`FindingKind::OutsideBusinessHours`].
    Hours {
        /// The session's end, when it ended.
        ended: Option<Timestamp>,
    },
    /// [`FindingKind::SessionNeverEnded`].
    NeverEnded {
        /// Why.
        why: NeverEnded,
    },
    /// [`FindingKind::PukRejected`].
    Puk {
        /// Who offered it.
        by: String,
        /// Tries left (absent: the PUK was already blocked).
        tries_left: Option<u8>,
    },
    /// [`FindingKind::ManagerRefused`].
    ManagerRefused {
        /// Who ran the command.
        by: String,
        /// Why (`wrong_pin`, `not_authorised_here`, …).
        reason: String,
        /// Tries left after a wrong PIN.
        tries_left: Option<u8>,
    },
    /// The findings of the central verification of a collected terminal
    /// ([`FindingKind::TerminalConflict`] and the other `Terminal…` kinds).
    Terminal {
        /// How many records or lines (conflicts, fresh chains, re-sent, unreadable, late).
        count: u64,
        /// The first record it is about.
        seq: Option<u64>,
        /// The terminal's last record: its time and kind (for a silent terminal).
        last_time: Option<Timestamp>,
        /// The last record's kind (`heartbeat`, `login_granted`, …).
        last_kind: Option<String>,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// How bad (from the kind).
    pub severity: Severity,
    /// Where: the terminal as configured (absent for findings about a whole log).
    pub terminal: Option<String>,
    /// Which card (serial, hex).
    pub card: Option<String>,
    /// Who (operator ID).
    pub operator: Option<String>,
    /// When it started (absent for findings about a whole log).
    pub time: Option<Timestamp>,
    /// When it ended (a burst's last event, a session's end).
    pub until: Option<Timestamp>,
    /// The records that show it (for a session, its login first).
    pub records: Vec<RecordRef>,
    /// The log the finding is about (for findings about a whole log).
    pub log: Option<String>,
    /// The data of this kind.
    pub detail: Detail,
    /// A record that shows it is not (yet) under a valid seal of its log: after the last
    /// seal, or after where the log stopped verifying. It could still be rewritten, or have
    /// been planted, without a trace; the report says so beside the finding.
    pub unsealed: bool,
}

impl Finding {
    /// A finding of `kind` with no fields set yet.
    pub fn new(kind: FindingKind, detail: Detail) -> Self {
        Finding {
            kind,
            severity: kind.severity(),
            terminal: None,
            card: None,
            operator: None,
            time: None,
            until: None,
            records: Vec::new(),
            log: None,
            detail,
            unsealed: false,
        }
    }

    /// The order of the report: critical findings about whole logs first, then every other
    /// in time order across terminals (then by log and record).
    pub(crate) fn order_key(&self) -> (bool, Option<Timestamp>, Option<&RecordRef>, FindingKind) {
        (
            self.severity != Severity::Critical,
            self.time,
            self.records.first(),
            self.kind,
        )
    }
}
