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

/// When people are expected to work, in local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Working days, Monday first.
    pub days: [bool; 7],
    /// Ranges in minutes after local midnight, `[start, end)`.
    pub ranges: Vec<(u16, u16)>,
    /// The local offset from UTC.
    pub utc_offset: time::UtcOffset,
}

impl Default for BusinessHours {
    /// Monday to Friday, 08:30–17:15, Japan time (+09:00).
    fn default() -> Self {
        BusinessHours {
            days: [true, true, true, true, true, false, false],
            ranges: vec![(8 * 60 + 30, 17 * 60 + 15)],
            utc_offset: time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC),
        }
    }
}

fn parse_hm(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Why a business-hours option was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoursError {
    /// Not `HH:MM-HH:MM` with start before end.
    #[error("business hours must look like 08:30-17:15 (start before end): {0:?}")]
    Range(String),
    /// Not a day list like `mon-fri` or `mon,tue,sat`.
    #[error("business days must look like mon-fri or mon,wed,fri: {0:?}")]
    Days(String),
    /// Not `+HH:MM` / `-HH:MM`.
    #[error("UTC offset must look like +09:00: {0:?}")]
    Offset(String),
}

impl BusinessHours {
    /// Parses ranges like `08:30-17:15` (one or more).
    pub fn parse_ranges(specs: &[String]) -> Result<Vec<(u16, u16)>, HoursError> {
        specs
            .iter()
            .map(|s| {
                let (a, b) = s
                    .split_once('-')
                    .ok_or_else(|| HoursError::Range(s.clone()))?;
                match (parse_hm(a.trim()), parse_hm(b.trim())) {
                    (Some(a), Some(b)) if a < b => Ok((a, b)),
                    _ => Err(HoursError::Range(s.clone())),
                }
            })
            .collect()
    }

    /// Parses `mon-fri`, `mon,tue,sat`, `mon-fri,sat`.
    pub fn parse_days(spec: &str) -> Result<[bool; 7], HoursError> {
        let bad = || HoursError::Days(spec.to_owned());
        let index = |d: &str| {
            DAY_NAMES
                .iter()
                .position(|n| *n == d.trim().to_ascii_lowercase())
        };
        let mut days = [false; 7];
        for part in spec.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (index(a).ok_or_else(bad)?, index(b).ok_or_else(bad)?);
                    if a > b {
                        return Err(bad());
                    }
                    days[a..=b].iter_mut().for_each(|d| *d = true);
                }
                None => days[index(part).ok_or_else(bad)?] = true,
            }
        }
        Ok(days)
    }

    /// Parses `+09:00`.
    pub fn parse_offset(spec: &str) -> Result<time::UtcOffset, HoursError> {
        let bad = || HoursError::Offset(spec.to_owned());
        let (sign, rest) = match spec.as_bytes().first() {
            Some(b'+') => (1i8, &spec[1..]),
            Some(b'-') => (-1i8, &spec[1..]),
            _ => return Err(bad()),
        };
        let minutes = parse_hm(rest).ok_or_else(bad)?;
        let h = i8::try_from(minutes / 60).map_err(|_| bad())?;
        let m = i8::try_from(minutes % 60).map_err(|_| bad())?;
        time::UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
    }

    /// Which (local date, range) a time falls in, or `None` outside business hours.
    fn slot(&self, t: Timestamp) -> Option<(time::Date, usize)> {
        let local = t.to_datetime()?.to_offset(self.utc_offset);
        let weekday = usize::from(local.weekday().number_days_from_monday());
        if !self.days.get(weekday).copied().unwrap_or(false) {
            return None;
        }
        let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
        let index = self
            .ranges
            .iter()
            .position(|(a, b)| *a <= minute && minute < *b)?;
        Some((local.date(), index))
    }

    /// True when `t` is within business hours.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.slot(t).is_some()
    }

    /// True when a session from `start` to `end` lies within one business-hours range.
    pub fn covers(&self, start: Timestamp, end: Timestamp) -> bool {
        match (self.slot(start), self.slot(end)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

/// What to review.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
    /// Business hours.
    pub hours: BusinessHours,
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
                if !self.options.hours.covers(s.start, end) {
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
                if !self.options.hours.contains(s.start) {
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
                        .map(|d| {
                            d.to_offset(self.options.hours.utc_offset)
                                .date()
                                .to_string()
                        })
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
    fn business_hours_options_parse_strictly() {
        assert_eq!(
            BusinessHours::parse_ranges(&["08:30-12:00".into(), "13:00-17:15".into()]).unwrap(),
            vec![(510, 720), (780, 1035)]
        );
        for bad in [
            "8:30-17:15",
            "17:15-08:30",
            "08:30",
            "08:60-09:00",
            "25:00-26:00",
        ] {
            assert!(BusinessHours::parse_ranges(&[bad.into()]).is_err(), "{bad}");
        }
        assert_eq!(
            BusinessHours::parse_days("mon-wed,sat").unwrap(),
            [true, true, true, false, false, true, false]
        );
        assert!(BusinessHours::parse_days("fri-mon").is_err());
        assert!(BusinessHours::parse_days("someday").is_err());
        assert_eq!(
            BusinessHours::parse_offset("-03:30").unwrap(),
            time::UtcOffset::from_hms(-3, -30, 0).unwrap()
        );
        assert!(BusinessHours::parse_offset("09:00").is_err());
    }

    #[test]
    fn sessions_are_inside_only_within_one_range_of_one_working_day() {
        let hours = BusinessHours::default();
        // 2026-06-01 is a Monday; 00:00Z is 09:00 in Japan.
        let t = |s: &str| Timestamp::parse(s).unwrap();
        assert!(hours.covers(t("2026-06-01T00:00:00.000Z"), t("2026-06-01T08:00:00.000Z")));
        assert!(!hours.covers(t("2026-06-01T00:00:00.000Z"), t("2026-06-01T08:15:00.000Z")));
        assert!(!hours.covers(t("2026-06-01T00:00:00.000Z"), t("2026-06-02T00:00:00.000Z")));
        assert!(!hours.contains(t("2026-06-06T01:00:00.000Z")), "Saturday");
        assert!(
            !hours.contains(t("2026-05-31T23:29:00.000Z")),
            "08:29 Monday"
        );
        assert!(
            hours.contains(t("2026-05-31T23:30:00.000Z")),
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
}
