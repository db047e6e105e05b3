//! The access manager's review (art. 7, art. 12) of the logs the daemon wrote: first whether
//! each log verifies (and with which key), and whether it still extends the previous review's
//! checkpoint; then per operator and per terminal, logins, failed PINs, lockouts; and the
//! findings, each a typed [`Finding`], in time order across terminals. Hand-written register
//! notes (art. 3, 4, 19) are listed. The review ends with a [`Checkpoint`] for the next one.
//!
//! * [`findings`]: what a finding is ([`Finding`], [`FindingKind`], [`Detail`]);
//! * `sessions`: the walk over the records (sessions, when, who was where, which cards);
//! * [`bursts`]: bursts of wrong PINs and denials;
//! * [`checkpoint`]: the checkpoint file and its check;
//! * [`render`]: the presentation.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{FieldError, ParseError, StoreError};
use crate::record::{Digest, Record, Timestamp};
use crate::seal::SealKey;
use crate::verify::{ProblemKind, VerifyOutcome};

pub mod bursts;
pub mod checkpoint;
pub mod collected;
pub mod findings;
pub mod render;
mod sessions;
pub mod source;

pub use bursts::Threshold;
pub use checkpoint::{Checkpoint, CheckpointError, LogCheckpoint, CHECKPOINT_FORMAT};
pub use findings::{
    Break, BurstScope, Detail, Finding, FindingKind, NeverEnded, NeverIssuedBasis, RecordRef,
    Severity, Withdrawal,
};
pub use source::{LocalLog, LogSource, SourceEnd};

/// The office's days off.
pub use cardgate_office::calendar::OfficeCalendar;
/// Business hours: the one type and parser, shared with `cardgated` (`[business_hours]`).
pub use cardgate_office::hours::{BusinessHours, HoursError};

/// Japan time (+09:00), the review's default offset.
fn jst() -> time::UtcOffset {
    cardgate_office::hours::utc_offset(9 * 60).unwrap_or(time::UtcOffset::UTC)
}

/// What to review, and against what.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
    /// Business hours (`[business_hours]` of `cardgated.toml`).
    pub hours: BusinessHours,
    /// The office's offset from UTC (`daemon.utc_offset_minutes`), in which business hours,
    /// days and dates are read.
    pub utc_offset: time::UtcOffset,
    /// National holidays and the office's closed days (`[calendar]`).
    pub calendar: OfficeCalendar,
    /// What makes a burst of wrong PINs (`[review]`).
    pub pin_burst: Threshold,
    /// What makes a burst of denied logins (`[review]`).
    pub denial_burst: Threshold,
    /// Reader name → terminal ID (`[[terminal]]`), for records that name the host rather
    /// than the terminal.
    pub terminals: BTreeMap<String, String>,
    /// The serials (hex) of the card register, when the review is given it: a card used that
    /// is not in it was never issued. Without it, a card never issued in the logs reviewed is.
    pub register: Option<BTreeSet<String>>,
    /// k(0), to authenticate the seals; without it the report says it is unverified.
    pub key: Option<SealKey>,
    /// The previous review's checkpoint, to prove the logs still extend it.
    pub previous: Option<Checkpoint>,
    /// When the review runs (the new checkpoint's time); the system clock when absent.
    pub now: Option<Timestamp>,
}

impl Default for ReportOptions {
    /// The whole log; Monday to Friday, 08:30–17:15, Japan time (+09:00); national holidays
    /// and the year-end closure; the default `[review]` thresholds; no key, no checkpoint.
    fn default() -> Self {
        let review = cardgate_office::config::ReviewSection::default();
        ReportOptions {
            from: None,
            to: None,
            hours: BusinessHours::default(),
            utc_offset: jst(),
            calendar: OfficeCalendar::default(),
            pin_burst: Threshold {
                count: review.failed_pin_burst_count,
                minutes: review.failed_pin_burst_minutes,
            },
            denial_burst: Threshold {
                count: review.denial_burst_count,
                minutes: review.denial_burst_minutes,
            },
            terminals: BTreeMap::new(),
            register: None,
            key: None,
            previous: None,
            now: None,
        }
    }
}

impl ReportOptions {
    /// The options a daemon configuration gives: its business hours (none configured: the
    /// review's default, Monday to Friday 08:30–17:15), offset, calendar, thresholds and
    /// terminals.
    pub fn from_config(config: &cardgate_office::config::Config) -> Result<Self, ReportError> {
        let utc_offset = cardgate_office::hours::utc_offset(config.daemon.utc_offset_minutes)
            .ok_or(ReportError::Offset(config.daemon.utc_offset_minutes))?;
        let hours = config.business_hours.clone().unwrap_or_default();
        let r = &config.review;
        Ok(ReportOptions {
            hours,
            utc_offset,
            calendar: config.calendar.office_calendar()?,
            pin_burst: Threshold {
                count: r.failed_pin_burst_count,
                minutes: r.failed_pin_burst_minutes,
            },
            denial_burst: Threshold {
                count: r.denial_burst_count,
                minutes: r.denial_burst_minutes,
            },
            terminals: config
                .terminals
                .iter()
                .map(|t| (t.reader.clone(), t.id.clone()))
                .collect(),
            ..ReportOptions::default()
        })
    }

    /// Sets the card register the review checks cards against.
    pub fn with_register(mut self, register: &cardgate_office::register::Register) -> Self {
        self.register = Some(register.cards.keys().cloned().collect());
        self
    }

    /// True when `t` is within business hours.
    fn inside(&self, t: Timestamp) -> bool {
        t.to_datetime()
            .is_some_and(|d| self.hours.contains(d, self.utc_offset))
    }

    /// True when a session from `start` to `end` lies within one business-hours window.
    fn covers(&self, start: Timestamp, end: Timestamp) -> bool {
        match (start.to_datetime(), end.to_datetime()) {
            (Some(a), Some(b)) => self.hours.covers(a, b, self.utc_offset),
            _ => false,
        }
    }

    /// The terminal a record is about: the terminal of its reader (`[[terminal]]`), else
    /// the terminal it names. Daemons before issue 12 named their host in every record,
    /// whichever reader it was about: the reader is what tells two terminals of one host
    /// apart.
    fn place(&self, r: &Record) -> String {
        r.reader
            .as_ref()
            .and_then(|reader| self.terminals.get(reader.as_str()))
            .cloned()
            .unwrap_or_else(|| r.terminal.as_str().to_owned())
    }

    /// The terminal a record of a log from `host` is about. A collected terminal's records
    /// (`host`: its directory's name) are placed by what they name, never through the
    /// configuration's `[[terminal]]` readers, which are one host's: every host's reader may
    /// have the same name. A name other than the host's own is qualified by it
    /// (`host/T01`), so that two hosts' terminals are never taken for one.
    fn place_in(&self, host: Option<&str>, r: &Record) -> String {
        match host {
            Some(h) if r.terminal.as_str() == h => h.to_owned(),
            Some(h) => format!("{h}/{}", r.terminal.as_str()),
            None => self.place(r),
        }
    }
}

/// Counts for one operator or terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Logins granted (unlocks are not logins).
    pub logins: u64,
    /// Logins denied.
    pub denied: u64,
    /// Wrong PINs.
    pub failed_pins: u64,
    /// PINs blocked.
    pub lockouts: u64,
    /// Revoked, unknown or never issued cards presented.
    pub bad_cards: u64,
    /// Sessions outside business hours.
    pub outside_hours: u64,
    /// Sessions with the card or operator in a session on another terminal.
    pub on_two_terminals: u64,
    /// Uses after the card was returned or revoked.
    pub after_withdrawal: u64,
    /// Sessions never ended.
    pub never_ended: u64,
    /// Sessions on national holidays or the office's closed days.
    pub on_days_off: u64,
}

/// A hand-written register entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteRow {
    /// Its record.
    pub seq: u64,
    /// Its log.
    pub log: String,
    /// When.
    pub time: Timestamp,
    /// Which register.
    pub register: &'static str,
    /// Text.
    pub text: String,
    /// Who.
    pub who: Option<String>,
    /// Escort.
    pub escort: Option<String>,
    /// Who wrote it (`uid 1001 (yamada)`); absent in notes from before notes were attributed.
    pub by: Option<String>,
}

/// Whether a log verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Chain and seals verified with k(0).
    Intact,
    /// Something is wrong (the first bad record is named).
    NotIntact,
    /// No k(0) was given: the chain was checked, the seals were not authenticated.
    Unverified,
}

/// The verification of one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The result.
    pub status: VerificationStatus,
    /// Whether the seals were authenticated with k(0).
    pub key_checked: bool,
    /// Records read.
    pub records: u64,
    /// Seals checked.
    pub seals: u64,
    /// The last record that verified.
    pub intact_up_to: Option<u64>,
    /// The first bad record.
    pub first_bad: Option<u64>,
    /// What is wrong (the verifier's words).
    pub problem: Option<String>,
    /// The first seal failed with the key given: the key may be wrong.
    pub key_may_be_wrong: bool,
    /// The first record after the last seal (not yet protected by a seal).
    pub unsealed_from: Option<u64>,
}

impl Verification {
    fn of(outcome: &VerifyOutcome) -> Self {
        let problem = outcome.problem.as_ref();
        let key_may_be_wrong = outcome.key_checked
            && outcome.seals == 0
            && problem
                .is_some_and(|p| matches!(p.kind, ProblemKind::SealMac | ProblemKind::KeyFileKey));
        Verification {
            status: match (problem, outcome.key_checked) {
                (Some(_), _) => VerificationStatus::NotIntact,
                (None, true) => VerificationStatus::Intact,
                (None, false) => VerificationStatus::Unverified,
            },
            key_checked: outcome.key_checked,
            records: outcome.records,
            seals: outcome.seals,
            intact_up_to: match problem {
                Some(p) => p.seq.checked_sub(1),
                None => outcome.last_seq,
            },
            first_bad: problem.map(|p| p.seq),
            problem: problem.map(ToString::to_string),
            key_may_be_wrong,
            unsealed_from: outcome.unsealed_tail.as_ref().map(|t| t.first_seq),
        }
    }
}

/// One log reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    /// Its directory (canonical path).
    pub dir: String,
    /// Its identity (genesis `log_id`).
    pub log_id: Option<String>,
    /// The host that wrote it (genesis terminal).
    pub host: Option<String>,
    /// The terminals its records are about.
    pub terminals: Vec<String>,
    /// Records read.
    pub records: u64,
    /// The last record read.
    pub last_seq: Option<u64>,
    /// The last seal's epoch.
    pub seal_epoch: Option<u64>,
    /// Whether it verified.
    pub verification: Verification,
}

/// What the previous checkpoint showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviousCheckpoint {
    /// When the previous review ran.
    pub made: Timestamp,
    /// Every log extends it (otherwise see the `log_not_extended` findings).
    pub extended: bool,
}

/// The review.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Period start.
    pub from: Option<Timestamp>,
    /// Period end (exclusive).
    pub to: Option<Timestamp>,
    /// The office's offset from UTC, in minutes: every time shown is shown in it.
    pub utc_offset_minutes: i16,
    /// All logs verified with k(0) and intact (`Intact`), one is not (`NotIntact`), or no
    /// key was given (`Unverified`).
    pub verification: Option<VerificationStatus>,
    /// A fingerprint of the k(0) used (never the key): see [`key_fingerprint`].
    pub key_fingerprint: Option<String>,
    /// The logs, in the order given (each once).
    pub logs: Vec<LogSummary>,
    /// The previous checkpoint's check, when one was given.
    pub previous_checkpoint: Option<PreviousCheckpoint>,
    /// Records in the period.
    pub records: u64,
    /// Per operator ID (`-` for events without one).
    pub per_operator: BTreeMap<String, Counts>,
    /// Per terminal.
    pub per_terminal: BTreeMap<String, Counts>,
    /// Logins per local day (`YYYY-MM-DD`).
    pub logins_per_day: BTreeMap<String, u64>,
    /// Findings: those about whole logs first, then in time order across terminals.
    pub findings: Vec<Finding>,
    /// Register notes.
    pub notes: Vec<NoteRow>,
    /// The checkpoint for the next review.
    pub checkpoint: Option<Checkpoint>,
}

impl Report {
    /// The findings of one kind.
    pub fn of_kind(&self, kind: FindingKind) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.kind == kind)
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A line is not a record (run `verify`).
    #[error("{file} line {line}: not a valid record; run `cardgatectl audit verify`")]
    Unreadable {
        /// File.
        file: String,
        /// Line.
        line: u64,
        /// Why.
        #[source]
        source: ParseError,
    },
    /// A bad option.
    #[error(transparent)]
    Hours(#[from] HoursError),
    /// A bad time option.
    #[error("bad time option: {0}")]
    Time(#[from] FieldError),
    /// `from` is not before `to`.
    #[error("the period is empty: from {from} is not before to {to}")]
    EmptyPeriod {
        /// From.
        from: Timestamp,
        /// To.
        to: Timestamp,
    },
    /// No log directory was given.
    #[error("no log directory to review")]
    NoLogs,
    /// A log directory cannot be found.
    #[error("{dir}: {source}")]
    Dir {
        /// The directory as given.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration's calendar or offset.
    #[error(transparent)]
    Config(#[from] cardgate_office::config::ConfigError),
    /// A UTC offset out of range.
    #[error("UTC offset {0} minutes is out of range")]
    Offset(i16),
    /// The checkpoint file.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// More logs than one review (and its checkpoint) holds.
    #[error("{count} logs to review: one review holds at most {max} (its checkpoint could not be read back); review the terminals in parts (--collected on a smaller root, or --dir)")]
    TooManyLogs {
        /// How many were given.
        count: usize,
        /// [`checkpoint::MAX_CHECKPOINT_LOGS`].
        max: usize,
    },
    /// The collected root or a terminal's files there (the error names it).
    #[error(transparent)]
    Collected(#[from] crate::collected::CollectedError),
}

/// A short fingerprint of k(0) (16 hex digits of SHA-256 over a label and the key), so that
/// the report can say which key verified it without holding the key.
pub fn key_fingerprint(key: &SealKey) -> String {
    let hex = key.to_hex();
    let mut input = b"cardgate k(0) fingerprint v1\0".to_vec();
    input.extend_from_slice(hex.as_bytes());
    let digest = Digest::sha256(&input);
    zeroize::Zeroize::zeroize(&mut input);
    digest.to_string()[..16].to_owned()
}

/// Checks a period: `from` must be before `to`.
pub fn check_period(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<(), ReportError> {
    match (from, to) {
        (Some(from), Some(to)) if from >= to => Err(ReportError::EmptyPeriod { from, to }),
        _ => Ok(()),
    }
}

/// Reviews the logs in `dirs` (one per host, as collected on the CS): verifies each (with
/// `options.key` when given) as it reads it, checks `options.previous`, merges the records in
/// time order and reviews them. See [`review_sources`].
pub fn review(dirs: &[&Path], options: &ReportOptions) -> Result<Report, ReportError> {
    review_all(dirs, Vec::new(), options)
}

/// Reviews the logs in `dirs` together with `more` (the collected terminals): as [`review`],
/// with the sources of `more` after those of `dirs`.
pub fn review_all(
    dirs: &[&Path],
    more: Vec<Box<dyn LogSource>>,
    options: &ReportOptions,
) -> Result<Report, ReportError> {
    check_period(options.from, options.to)?;
    if dirs.is_empty() && more.is_empty() {
        return Err(ReportError::NoLogs);
    }
    let unique = source::unique_dirs(dirs, options.previous.is_some())?;
    let mut sources: Vec<Box<dyn LogSource>> = Vec::with_capacity(unique.len() + more.len());
    for dir in &unique {
        sources.push(Box::new(LocalLog::open(dir, options.key.as_ref())?));
    }
    sources.extend(more);
    review_sources(sources, options)
}

/// One log being read: its source, what the checkpoint needs of it, its record waiting in the
/// merge, and the terminals its records are about.
struct Run {
    source: Box<dyn LogSource>,
    state: checkpoint::LogState,
    head: Option<Record>,
    terminals: BTreeSet<String>,
    /// Records read.
    read: u64,
    /// The collected terminal's host, for a collected terminal.
    host: Option<String>,
}

impl Run {
    /// Reads the next record into `head`; false at the end.
    fn advance(&mut self, options: &ReportOptions) -> Result<bool, ReportError> {
        match self.source.next_record()? {
            Some((record, line)) => {
                self.state.see(&record, line, options.previous.as_ref());
                if record.card.is_some() || record.reader.is_some() {
                    let place = options.place_in(self.host.as_deref(), &record);
                    if !self.terminals.contains(&place) {
                        self.terminals.insert(place);
                    }
                }
                self.head = Some(record);
                self.read += 1;
                Ok(true)
            }
            None => {
                self.head = None;
                Ok(false)
            }
        }
    }
}

/// Reviews the logs `sources` yield, streamed: the sources are merged by time (a binary heap
/// holding one record per log; records of equal time in the order the sources are given,
/// each log's own in its order), and the review takes one record at a time. What it holds is
/// bounded by the logs, operators, cards, terminals, days and findings, never by the records.
pub fn review_sources(
    sources: Vec<Box<dyn LogSource>>,
    options: &ReportOptions,
) -> Result<Report, ReportError> {
    check_period(options.from, options.to)?;
    // Each log costs its buffers whatever its size, and a collector's root gets a directory
    // per host name anyone on the network may send: the review holds no more logs than its
    // checkpoint can.
    if sources.len() > checkpoint::MAX_CHECKPOINT_LOGS {
        return Err(ReportError::TooManyLogs {
            count: sources.len(),
            max: checkpoint::MAX_CHECKPOINT_LOGS,
        });
    }
    let mut runs: Vec<Run> = sources
        .into_iter()
        .map(|source| Run {
            state: checkpoint::LogState::new(source.name()),
            host: source.host().map(str::to_owned),
            source,
            head: None,
            terminals: BTreeSet::new(),
            read: 0,
        })
        .collect();
    let mut reviewer = sessions::Reviewer::new(options);
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (i, run) in runs.iter_mut().enumerate() {
        if run.advance(options)? {
            if let Some(r) = &run.head {
                heap.push(Reverse((r.time, i)));
            }
        }
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        let Some(run) = runs.get_mut(i) else {
            continue;
        };
        if let Some(record) = run.head.take() {
            let place = options.place_in(run.host.as_deref(), &record);
            reviewer.feed(&run.state.dir, place, &record);
        }
        if run.advance(options)? {
            if let Some(r) = &run.head {
                heap.push(Reverse((r.time, i)));
            }
        }
    }
    let mut logs = Vec::with_capacity(runs.len());
    let mut states = Vec::with_capacity(runs.len());
    for run in runs {
        let Run {
            source,
            mut state,
            terminals,
            read,
            ..
        } = run;
        let end = source.finish()?;
        state.end();
        state.intact = end.verification.status != VerificationStatus::NotIntact;
        state.terminals = terminals.into_iter().collect();
        for f in end.findings {
            reviewer.push(f);
        }
        let v = &end.verification;
        if v.status == VerificationStatus::NotIntact {
            let mut f = Finding::new(
                FindingKind::LogNotIntact,
                Detail::LogNotIntact {
                    intact_up_to: v.intact_up_to,
                    first_bad: v.first_bad.unwrap_or(0),
                    problem: v.problem.clone().unwrap_or_default(),
                    key_may_be_wrong: v.key_may_be_wrong,
                },
            );
            f.log = Some(state.dir.clone());
            reviewer.push(f);
        }
        logs.push(LogSummary {
            dir: state.dir.clone(),
            log_id: state.log_id.map(|l| l.to_string()),
            host: state.host.clone(),
            terminals: state.terminals.clone(),
            records: read,
            last_seq: state.last.map(|l| l.0),
            seal_epoch: state.seal_epoch,
            verification: end.verification,
        });
        states.push(state);
    }
    let previous = options.previous.as_ref().map(|p| {
        let broken = checkpoint::check(p, &states);
        let extended = broken.is_empty();
        for f in broken {
            reviewer.push(f);
        }
        PreviousCheckpoint {
            made: p.made,
            extended,
        }
    });
    let (mut report, mut findings) = reviewer.finish();
    // Records not under a valid seal: after the last seal, or after where the log stopped
    // verifying. A finding resting on one says so.
    let unsealed_from: BTreeMap<&str, u64> = logs
        .iter()
        .filter_map(|l| {
            let v = &l.verification;
            let after_bad = v.first_bad.or(match v.status {
                VerificationStatus::NotIntact => {
                    Some(v.intact_up_to.map_or(0, |s| s.saturating_add(1)))
                }
                _ => None,
            });
            let from = match (v.unsealed_from, after_bad) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            from.map(|f| (l.dir.as_str(), f))
        })
        .collect();
    for f in &mut findings {
        f.unsealed = f.records.iter().any(|r| {
            unsealed_from
                .get(r.log.as_str())
                .is_some_and(|from| r.seq >= *from)
        });
    }
    findings.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    report.findings = findings;
    report.from = options.from;
    report.to = options.to;
    report.utc_offset_minutes = options.utc_offset.whole_minutes();
    report.key_fingerprint = options.key.as_ref().map(key_fingerprint);
    report.verification = Some(
        if logs
            .iter()
            .any(|l| l.verification.status == VerificationStatus::NotIntact)
        {
            VerificationStatus::NotIntact
        } else if logs.iter().all(|l| l.verification.key_checked)
            && (options.key.is_some() || !logs.is_empty())
        {
            VerificationStatus::Intact
        } else {
            VerificationStatus::Unverified
        },
    );
    report.previous_checkpoint = previous;
    report.logs = logs;
    let now = options
        .now
        .unwrap_or_else(|| Timestamp::from_datetime(time::OffsetDateTime::now_utc()));
    report.checkpoint = Some(checkpoint::make(&states, now));
    Ok(report)
}

/// [`review`] with options by value (what `cardgatectl audit report` called before).
pub fn report_dirs(dirs: &[&Path], options: ReportOptions) -> Result<Report, ReportError> {
    review(dirs, &options)
}

/// Parses a `--from`/`--to` bound: a local date `YYYY-MM-DD` (at `offset`, the office's; as
/// an end bound it means the end of that day) or a full `YYYY-MM-DDThh:mm:ss.mmmZ`.
pub fn parse_bound(
    text: &str,
    offset: time::UtcOffset,
    end: bool,
) -> Result<Timestamp, FieldError> {
    if let Ok(t) = Timestamp::parse(text) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, format).map_err(|_| FieldError::BadTime)?;
    let date = if end {
        date.next_day().ok_or(FieldError::BadTime)?
    } else {
        date
    };
    Ok(Timestamp::from_datetime(
        date.midnight()
            .assume_offset(offset)
            .to_offset(time::UtcOffset::UTC),
    ))
}

/// Parses a period `--from`/`--to` in the office's offset, refusing `from` after `to`.
pub fn parse_period(
    from: Option<&str>,
    to: Option<&str>,
    offset: time::UtcOffset,
) -> Result<(Option<Timestamp>, Option<Timestamp>), ReportError> {
    let from = from.map(|t| parse_bound(t, offset, false)).transpose()?;
    let to = to.map(|t| parse_bound(t, offset, true)).transpose()?;
    check_period(from, to)?;
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn sessions_are_inside_only_within_one_range_of_one_working_day() {
        let options = ReportOptions::default();
        // 2026-06-01 is a Monday; 00:00Z is 09:00 in Japan.
        let t = |s: &str| Timestamp::parse(s).unwrap();
        assert!(options.covers(t("2026-06-01T00:00:00.000Z"), t("2026-06-01T08:00:00.000Z")));
        assert!(!options.covers(t("2026-06-01T00:00:00.000Z"), t("2026-06-01T08:15:00.000Z")));
        assert!(!options.covers(t("2026-06-01T00:00:00.000Z"), t("2026-06-02T00:00:00.000Z")));
        assert!(!options.inside(t("2026-06-06T01:00:00.000Z")), "Saturday");
        assert!(
            !options.inside(t("2026-05-31T23:29:00.000Z")),
            "08:29 Monday"
        );
        assert!(
            options.inside(t("2026-05-31T23:30:00.000Z")),
            "08:30 Monday"
        );
    }

    #[test]
    fn period_bounds_are_local_dates_or_utc_times() {
        let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
        assert_eq!(
            parse_bound("2026-06-01", jst, false).unwrap(),
            Timestamp::parse("2026-05-31T15:00:00.000Z").unwrap()
        );
        assert_eq!(
            parse_bound("2026-06-01", jst, true).unwrap(),
            Timestamp::parse("2026-06-01T15:00:00.000Z").unwrap()
        );
        assert!(parse_bound("2026-13-01", jst, false).is_err());
        assert!(parse_bound("yesterday", jst, false).is_err());
    }

    // `--from` after `--to` was accepted and gave an empty report.
    #[test]
    fn a_period_that_ends_before_it_starts_is_refused() {
        let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
        assert!(matches!(
            parse_period(Some("2026-11-30"), Some("2026-11-01"), jst),
            Err(ReportError::EmptyPeriod { .. })
        ));
        let (from, to) = parse_period(Some("2026-11-01"), Some("2026-11-01"), jst).unwrap();
        assert_eq!(
            from,
            Some(Timestamp::parse("2026-10-31T15:00:00.000Z").unwrap())
        );
        assert_eq!(
            to,
            Some(Timestamp::parse("2026-11-01T15:00:00.000Z").unwrap())
        );
        let options = ReportOptions {
            from: to,
            to: from,
            ..ReportOptions::default()
        };
        assert!(matches!(
            review(&[Path::new("/nonexistent")], &options),
            Err(ReportError::EmptyPeriod { .. })
        ));
    }

    struct Nothing(String);

    impl LogSource for Nothing {
        fn name(&self) -> &str {
            &self.0
        }
        fn next_record(&mut self) -> Result<Option<(Record, &[u8])>, ReportError> {
            Ok(None)
        }
        fn finish(self: Box<Self>) -> Result<SourceEnd, ReportError> {
            Err(ReportError::NoLogs)
        }
    }

    // A collector's root with a directory for every name anyone sent: no more logs than one
    // checkpoint holds, refused before any is read.
    #[test]
    fn more_logs_than_a_checkpoint_holds_are_refused() {
        let sources = |n: usize| -> Vec<Box<dyn LogSource>> {
            (0..n)
                .map(|i| Box::new(Nothing(format!("/t/{i}"))) as Box<dyn LogSource>)
                .collect()
        };
        let e = review_sources(
            sources(checkpoint::MAX_CHECKPOINT_LOGS + 1),
            &ReportOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(e, ReportError::TooManyLogs { max, .. } if max == checkpoint::MAX_CHECKPOINT_LOGS),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains(&checkpoint::MAX_CHECKPOINT_LOGS.to_string()),
            "{e}"
        );
        // At the limit they are read (and these fail at their end, as they say).
        assert!(matches!(
            review_sources(sources(3), &ReportOptions::default()),
            Err(ReportError::NoLogs)
        ));
    }

    #[test]
    fn the_key_fingerprint_names_the_key_without_holding_it() {
        let key = SealKey::from_bytes([7; 32]);
        let f = key_fingerprint(&key);
        assert_eq!(f.len(), 16);
        assert_eq!(f, key_fingerprint(&SealKey::from_bytes([7; 32])));
        assert_ne!(f, key_fingerprint(&SealKey::from_bytes([8; 32])));
        assert!(!key.to_hex().contains(&f));
    }
}
