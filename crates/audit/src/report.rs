//! The access manager's review (art. 7, art. 12): per operator and per terminal, logins,
//! failed PINs, lockouts; and the anomalies: revoked or unknown cards presented, sessions
//! outside business hours, one card on two terminals at once, use after return or
//! revocation, sessions never ended. Hand-written register notes (art. 3, 4, 19) are listed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::error::{FieldError, ParseError, StoreError};
use crate::record::{Event, Record, Timestamp, MAX_LINE_LEN};
use crate::segments::list_segments;

pub mod render;

/// Business hours: the one type and parser, shared with `cardgated` (`[business_hours]`).
pub use cardgate_office::hours::{BusinessHours, HoursError};

/// Japan time (+09:00), the review's default offset.
fn jst() -> time::UtcOffset {
    cardgate_office::hours::utc_offset(9 * 60).unwrap_or(time::UtcOffset::UTC)
}

/// What to review.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
    /// Business hours.
    pub hours: BusinessHours,
    /// The local offset from UTC, in which business hours and days are read.
    pub utc_offset: time::UtcOffset,
}

impl Default for ReportOptions {
    /// The whole log; Monday to Friday, 08:30–17:15, Japan time (+09:00).
    fn default() -> Self {
        ReportOptions {
            from: None,
            to: None,
            hours: BusinessHours::default(),
            utc_offset: jst(),
        }
    }
}

impl ReportOptions {
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
}

/// Counts for one operator or terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Logins granted.
    pub logins: u64,
    /// Logins denied.
    pub denied: u64,
    /// Wrong PINs.
    pub failed_pins: u64,
    /// PINs blocked.
    pub lockouts: u64,
    /// Revoked or unknown cards presented.
    pub bad_cards: u64,
    /// Sessions outside business hours.
    pub outside_hours: u64,
    /// Logins with a card already in use on another terminal.
    pub on_two_terminals: u64,
    /// Uses after the card was returned or revoked.
    pub after_withdrawal: u64,
    /// Sessions never ended.
    pub never_ended: u64,
}

/// A kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A card on the revocation list was presented.
    RevokedCardPresented,
    /// A card whose certificate was rejected (unknown issuer, expired, …) was presented.
    UnknownCardPresented,
    /// A session started or ran outside business hours.
    OutsideBusinessHours,
    /// A card logged in on a terminal while its session on another was still open.
    CardOnTwoTerminals,
    /// A card was used after it was returned or revoked.
    UseAfterWithdrawal,
    /// A session was never ended (superseded, daemon restarted, or still open at the end).
    SessionNeverEnded,
    /// A card refused a PUK, or was offered one while its PUK was blocked.
    PukRejected,
    /// An issuance or unblock was refused: no access manager's card authenticated.
    ManagerRefused,
}

impl AnomalyKind {
    /// A short English label.
    pub fn label(self) -> &'static str {
        match self {
            AnomalyKind::RevokedCardPresented => "revoked card presented",
            AnomalyKind::UnknownCardPresented => "unknown card presented",
            AnomalyKind::OutsideBusinessHours => "session outside business hours",
            AnomalyKind::CardOnTwoTerminals => "card on two terminals at once",
            AnomalyKind::UseAfterWithdrawal => "use after return or revocation",
            AnomalyKind::SessionNeverEnded => "session never ended",
            AnomalyKind::PukRejected => "wrong PUK",
            AnomalyKind::ManagerRefused => "access manager's card refused",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// What.
    pub kind: AnomalyKind,
    /// The record that shows it (for sessions, the login).
    pub seq: u64,
    /// When.
    pub time: Timestamp,
    /// Where.
    pub terminal: String,
    /// Who.
    pub operator: Option<String>,
    /// Which card.
    pub card: Option<String>,
    /// More.
    pub detail: String,
}

/// A hand-written register entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteRow {
    /// Its record.
    pub seq: u64,
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

/// The review.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Period start.
    pub from: Option<Timestamp>,
    /// Period end.
    pub to: Option<Timestamp>,
    /// Records in the period.
    pub records: u64,
    /// Per operator ID (`-` for events without one).
    pub per_operator: BTreeMap<String, Counts>,
    /// Per terminal.
    pub per_terminal: BTreeMap<String, Counts>,
    /// Logins per local day (`YYYY-MM-DD`).
    pub logins_per_day: BTreeMap<String, u64>,
    /// Findings, in log order.
    pub anomalies: Vec<Anomaly>,
    /// Register notes.
    pub notes: Vec<NoteRow>,
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
}

struct Session {
    seq: u64,
    start: Timestamp,
    operator: Option<String>,
    card: Option<String>,
}

/// Builds the report while reading records in log order.
pub struct Reviewer {
    options: ReportOptions,
    report: Report,
    sessions: HashMap<String, Session>,
    withdrawn: HashMap<String, (u64, &'static str)>,
}

impl Reviewer {
    /// A reviewer for `options`.
    pub fn new(options: ReportOptions) -> Self {
        Reviewer {
            report: Report {
                from: options.from,
                to: options.to,
                ..Report::default()
            },
            options,
            sessions: HashMap::new(),
            withdrawn: HashMap::new(),
        }
    }

    fn in_period(&self, t: Timestamp) -> bool {
        self.options.from.is_none_or(|f| t >= f) && self.options.to.is_none_or(|to| t < to)
    }

    fn count(
        &mut self,
        terminal: &str,
        operator: Option<&str>,
        t: Timestamp,
        f: impl Fn(&mut Counts),
    ) {
        if !self.in_period(t) {
            return;
        }
        f(self
            .report
            .per_terminal
            .entry(terminal.to_owned())
            .or_default());
        f(self
            .report
            .per_operator
            .entry(operator.unwrap_or("-").to_owned())
            .or_default());
    }

    #[allow(clippy::too_many_arguments)]
    fn flag(
        &mut self,
        kind: AnomalyKind,
        seq: u64,
        time: Timestamp,
        terminal: &str,
        operator: Option<String>,
        card: Option<String>,
        detail: String,
    ) {
        if !self.in_period(time) {
            return;
        }
        let bump = |c: &mut Counts| match kind {
            AnomalyKind::RevokedCardPresented | AnomalyKind::UnknownCardPresented => {
                c.bad_cards += 1
            }
            AnomalyKind::OutsideBusinessHours => c.outside_hours += 1,
            AnomalyKind::CardOnTwoTerminals => c.on_two_terminals += 1,
            AnomalyKind::UseAfterWithdrawal => c.after_withdrawal += 1,
            AnomalyKind::SessionNeverEnded => c.never_ended += 1,
            // A finding line of its own; the counters are about card use at terminals.
            AnomalyKind::PukRejected | AnomalyKind::ManagerRefused => {}
        };
        bump(
            self.report
                .per_terminal
                .entry(terminal.to_owned())
                .or_default(),
        );
        bump(
            self.report
                .per_operator
                .entry(operator.clone().unwrap_or_else(|| "-".into()))
                .or_default(),
        );
        self.report.anomalies.push(Anomaly {
            kind,
            seq,
            time,
            terminal: terminal.to_owned(),
            operator,
            card,
            detail,
        });
    }

    fn close_session(&mut self, terminal: &str, end: Option<Timestamp>, why: &str) {
        let Some(s) = self.sessions.remove(terminal) else {
            return;
        };
        match end {
            Some(end) => {
                if !self.options.covers(s.start, end) {
                    self.flag(
                        AnomalyKind::OutsideBusinessHours,
                        s.seq,
                        s.start,
                        terminal,
                        s.operator,
                        s.card,
                        format!("session {} – {}", s.start, end),
                    );
                }
            }
            None => {
                if !self.options.inside(s.start) {
                    self.flag(
                        AnomalyKind::OutsideBusinessHours,
                        s.seq,
                        s.start,
                        terminal,
                        s.operator.clone(),
                        s.card.clone(),
                        format!("session started {}", s.start),
                    );
                }
                self.flag(
                    AnomalyKind::SessionNeverEnded,
                    s.seq,
                    s.start,
                    terminal,
                    s.operator,
                    s.card,
                    why.to_owned(),
                );
            }
        }
    }

    /// Takes the next record.
    pub fn feed(&mut self, r: &Record) {
        let t = r.time;
        let terminal = r.terminal.as_str().to_owned();
        let operator = r.operator.as_ref().map(|o| o.as_str().to_owned());
        let card = r.card.map(|c| c.to_string());
        if self.in_period(t) {
            self.report.records += 1;
        }
        match &r.event {
            Event::LoginGranted { .. } => {
                self.close_session(&terminal, None, "another login on the same terminal");
                self.count(&terminal, operator.as_deref(), t, |c| c.logins += 1);
                if self.in_period(t) {
                    let day = t
                        .to_datetime()
                        .map(|d| d.to_offset(self.options.utc_offset).date().to_string())
                        .unwrap_or_default();
                    *self.report.logins_per_day.entry(day).or_default() += 1;
                }
                if let Some(c) = &card {
                    if let Some((seq, what)) = self.withdrawn.get(c).copied() {
                        self.flag(
                            AnomalyKind::UseAfterWithdrawal,
                            r.seq,
                            t,
                            &terminal,
                            operator.clone(),
                            card.clone(),
                            format!("login after the card was {what} (record {seq})"),
                        );
                    }
                    let elsewhere = self
                        .sessions
                        .iter()
                        .filter(|(_, s)| s.card.as_deref() == Some(c))
                        .map(|(term, s)| (term.clone(), s.seq))
                        .min();
                    if let Some((other, seq)) = elsewhere {
                        self.flag(
                            AnomalyKind::CardOnTwoTerminals,
                            r.seq,
                            t,
                            &terminal,
                            operator.clone(),
                            card.clone(),
                            format!("still logged in on {other} since record {seq}"),
                        );
                    }
                }
                self.sessions.insert(
                    terminal,
                    Session {
                        seq: r.seq,
                        start: t,
                        operator,
                        card,
                    },
                );
            }
            Event::SessionUnlocked => {
                if let Some(c) = &card {
                    if let Some((seq, what)) = self.withdrawn.get(c).copied() {
                        self.flag(
                            AnomalyKind::UseAfterWithdrawal,
                            r.seq,
                            t,
                            &terminal,
                            operator,
                            card.clone(),
                            format!("unlock after the card was {what} (record {seq})"),
                        );
                    }
                }
            }
            Event::SessionEnded { .. } => self.close_session(&terminal, Some(t), ""),
            Event::DaemonStarted { .. } => {
                self.close_session(&terminal, None, "daemon restarted during the session")
            }
            Event::LoginDenied { .. } => {
                self.count(&terminal, operator.as_deref(), t, |c| c.denied += 1)
            }
            Event::PinVerified { correct: false, .. } => {
                self.count(&terminal, operator.as_deref(), t, |c| c.failed_pins += 1)
            }
            Event::PinBlocked => self.count(&terminal, operator.as_deref(), t, |c| c.lockouts += 1),
            Event::RevokedCardPresented { reason } => self.flag(
                AnomalyKind::RevokedCardPresented,
                r.seq,
                t,
                &terminal,
                operator,
                card,
                format!("revoked: {reason}"),
            ),
            Event::CertificateRejected { reason } => self.flag(
                AnomalyKind::UnknownCardPresented,
                r.seq,
                t,
                &terminal,
                operator,
                card,
                format!("certificate rejected: {reason:?}"),
            ),
            Event::CardReturned { .. } => {
                if let Some(c) = card {
                    self.withdrawn.insert(c, (r.seq, "returned"));
                }
            }
            Event::CardRevoked { .. } => {
                if let Some(c) = card {
                    self.withdrawn.insert(c, (r.seq, "revoked"));
                }
            }
            Event::CardIssued { .. } => {
                if let Some(c) = card {
                    self.withdrawn.remove(&c);
                }
            }
            Event::Note {
                note,
                text,
                who,
                escort,
                by,
            } if self.in_period(t) => {
                self.report.notes.push(NoteRow {
                    seq: r.seq,
                    time: t,
                    register: note.as_str(),
                    text: text.as_str().to_owned(),
                    who: who.as_ref().map(|w| w.as_str().to_owned()),
                    escort: escort.as_ref().map(|w| w.as_str().to_owned()),
                    by: by.as_ref().map(|b| b.as_str().to_owned()),
                });
            }
            Event::PukRejected { by, tries_left } => self.flag(
                AnomalyKind::PukRejected,
                r.seq,
                t,
                &terminal,
                operator,
                card,
                match tries_left {
                    0 => format!("wrong PUK by {by}; the PUK is now blocked"),
                    n => format!("wrong PUK by {by}; {n} tries left"),
                },
            ),
            Event::ManagerRefused {
                by,
                reason,
                tries_left,
            } => self.flag(
                AnomalyKind::ManagerRefused,
                r.seq,
                t,
                &terminal,
                operator,
                card,
                match tries_left {
                    Some(n) => {
                        format!("card issue/unblock by {by} refused: {reason:?}, {n} tries left")
                    }
                    None => format!("card issue/unblock by {by} refused: {reason:?}"),
                },
            ),
            Event::PukBlocked { by } => self.flag(
                AnomalyKind::PukRejected,
                r.seq,
                t,
                &terminal,
                operator,
                card,
                format!("PUK offered by {by} to a card whose PUK is blocked"),
            ),
            _ => {}
        }
    }

    /// Ends the review: sessions still open are reported as never ended.
    pub fn finish(mut self) -> Report {
        let mut open: Vec<String> = self.sessions.keys().cloned().collect();
        open.sort();
        for terminal in open {
            self.close_session(&terminal, None, "still open at the end of the log");
        }
        self.report.anomalies.sort_by_key(|a| (a.seq, a.kind));
        self.report
    }
}

fn read_records(dir: &Path, out: &mut Vec<Record>) -> Result<(), ReportError> {
    let segments =
        list_segments(dir).map_err(|e| StoreError::io("listing the log directory", dir, e))?;
    for (number, path) in segments {
        let file = File::open(&path).map_err(|e| StoreError::io("opening a segment", &path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut line_no = 0;
        loop {
            line.clear();
            line_no += 1;
            let n = (&mut reader)
                .take(MAX_LINE_LEN as u64 + 2)
                .read_until(b'\n', &mut line)
                .map_err(|e| StoreError::io("reading a segment", &path, e))?;
            if n == 0 {
                break;
            }
            // A torn last line is left for the writer to quarantine.
            let Some(body) = line.strip_suffix(b"\n") else {
                break;
            };
            let record = Record::parse(body).map_err(|source| ReportError::Unreadable {
                file: format!(
                    "{}/{}",
                    dir.display(),
                    crate::segments::segment_name(number)
                ),
                line: line_no,
                source,
            })?;
            out.push(record);
        }
    }
    Ok(())
}

/// Reads the logs in `dirs` (one per terminal, say, as collected on the CS), merges them in
/// time order and reviews them. Run `verify` first: the report trusts what it reads.
pub fn report_dirs(dirs: &[&Path], options: ReportOptions) -> Result<Report, ReportError> {
    let mut records = Vec::new();
    for dir in dirs {
        read_records(dir, &mut records)?;
    }
    // Stable: records of one log keep their order (their times never go backwards).
    records.sort_by_key(|r| r.time);
    let mut reviewer = Reviewer::new(options);
    for record in &records {
        reviewer.feed(record);
    }
    Ok(reviewer.finish())
}

/// Parses a `--from`/`--to` bound: a local date `YYYY-MM-DD` (at `offset`; as an end bound it
/// means the end of that day) or a full `YYYY-MM-DDThh:mm:ss.mmmZ`.
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

    fn login_at(seq: u64, time: &str) -> Record {
        Record {
            seq,
            time: Timestamp::parse(time).unwrap(),
            terminal: crate::record::Label::new("T01").unwrap(),
            reader: None,
            card: None,
            operator: None,
            uid: None,
            event: Event::LoginGranted {
                role: cardgate_card::cert::Role::Operator,
            },
            prev: crate::record::Digest::default(),
        }
    }

    // The daemon refuses a login outside `[business_hours]` and the review flags a session
    // that starts outside them: with the daemon's own configuration, read by the one parser,
    // the two agree on the boundary minutes (08:30 in, 17:15 out).
    #[test]
    fn the_review_and_the_daemon_agree_on_the_boundary_minutes() {
        let config = cardgate_office::config::Config::parse(
            "[daemon]\nutc_offset_minutes = 540\n[business_hours]\nstart = \"08:30\"\nend = \"17:15\"\n[[terminal]]\nid = \"T01\"\nreader = \"r\"\n",
        )
        .unwrap();
        let hours = config.business_hours.clone().unwrap();
        let offset = cardgate_office::hours::utc_offset(config.daemon.utc_offset_minutes).unwrap();
        // Monday 2026-06-01 in Japan: 08:29, 08:30, 17:14, 17:15.
        for (time, inside) in [
            ("2026-05-31T23:29:59.999Z", false),
            ("2026-05-31T23:30:00.000Z", true),
            ("2026-06-01T08:14:59.999Z", true),
            ("2026-06-01T08:15:00.000Z", false),
        ] {
            let t = Timestamp::parse(time).unwrap();
            let daemon_allows = hours.contains(t.to_datetime().unwrap(), offset);
            assert_eq!(daemon_allows, inside, "{time}");
            let mut reviewer = Reviewer::new(ReportOptions {
                hours: hours.clone(),
                utc_offset: offset,
                ..ReportOptions::default()
            });
            reviewer.feed(&login_at(1, time));
            let flagged = reviewer
                .finish()
                .anomalies
                .iter()
                .any(|a| a.kind == AnomalyKind::OutsideBusinessHours);
            assert_eq!(flagged, !daemon_allows, "{time}");
        }
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
}
