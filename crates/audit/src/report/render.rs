//! The review as the access manager reads it: text for a terminal ([`text`]), a
//! self-contained HTML page to print and sign ([`html`]), CSV for a spreadsheet, one table
//! per file ([`csv_files`]), and the data as JSON ([`json`]).
//!
//! Everything a person reads is in their language (`review.ftl`, Japanese or English) and
//! every time is in the office's legal time zone (JST by default), in the one format
//! `cardgate_office::hours::format_local`. The findings come first, the most severe at the
//! top (a log replaced or rolled back between two reviews, a log that did not verify), each
//! group in time order across terminals; the verification result and the key used head
//! every form.

use cardgate_i18n::{tr, Lang};
use cardgate_office::calendar::{DayOff, OfficeCalendar};
use cardgate_office::hours::BusinessHours;
use time::{Date, UtcOffset};

use super::{AnomalyKind, Counts, Report};
use crate::record::Timestamp;
use crate::seal::SealKey;
use crate::verify::VerifyOutcome;

mod csv;
mod html;
mod text;

pub use csv::{csv_files, CsvFile};
pub use html::page;
pub use text::{text, verify_text};

/// How bad a finding is; the report lists the most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The log itself cannot be trusted (replaced, rolled back, truncated, did not verify):
    /// at the top, in red.
    Critical,
    /// A sign of misuse: a revoked, unknown or returned card, one card in two places, a burst
    /// of wrong PINs.
    High,
    /// Worth a look: outside business hours, a holiday, a session never ended.
    Normal,
}

impl Severity {
    /// Its message ID in `review.ftl`.
    fn id(self) -> &'static str {
        match self {
            Severity::Critical => "review-severity-critical",
            Severity::High => "review-severity-high",
            Severity::Normal => "review-severity-normal",
        }
    }

    /// Its name in `lang`.
    pub fn label(self, lang: Lang) -> String {
        tr!(lang, self.id())
    }
}

/// One log's verification, as the review made it before reading the log.
#[derive(Debug)]
pub struct DirVerification {
    /// The log directory.
    pub dir: String,
    /// What `verify` found.
    pub outcome: VerifyOutcome,
}

/// What the presentation needs besides the report: the reader's language, the office's time
/// zone and calendar (to shade days off), and the verification at the top.
#[derive(Debug)]
pub struct View {
    /// The language of every label.
    pub lang: Lang,
    /// The office's legal time zone: every time is shown in it.
    pub offset: UtcOffset,
    /// Business hours (working days are not shaded in the day chart).
    pub hours: BusinessHours,
    /// The office's calendar: national holidays and closed days are shaded.
    pub calendar: OfficeCalendar,
    /// Each log's verification, in the order the logs were given.
    pub verification: Vec<DirVerification>,
    /// The fingerprint of the k(0) the seals were checked with (never the key itself).
    pub key_fingerprint: Option<String>,
}

impl View {
    /// English, JST, Monday to Friday 08:30–17:15, national holidays and the year-end closure,
    /// nothing verified.
    pub fn new(lang: Lang) -> View {
        View {
            lang,
            offset: UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC),
            hours: BusinessHours::default(),
            calendar: OfficeCalendar::default(),
            verification: Vec::new(),
            key_fingerprint: None,
        }
    }

    /// True when every log verified: the review may be signed off as resting on an intact log.
    pub fn is_trusted(&self) -> bool {
        self.verification.iter().all(|v| v.outcome.is_intact())
    }

    fn time(&self, t: Timestamp) -> String {
        local_time(t, self.offset)
    }
}

/// `t` as the office reads it: `2026-11-03 10:00:05 +09:00`.
pub fn local_time(t: Timestamp, offset: UtcOffset) -> String {
    t.to_datetime()
        .map(|d| cardgate_office::hours::format_local(d, offset))
        .unwrap_or_else(|| t.to_string())
}

/// The fingerprint of k(0) that the report shows so the access manager can tell which key was
/// used: the first 16 hex digits of SHA-256 over a fixed label and the key, in four groups.
/// It says nothing about the key (a one-way hash of 256 random bits).
pub fn key_fingerprint(key: &SealKey) -> String {
    let hex = key.to_hex();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"cardgate-k0-fingerprint-v1\0");
    ctx.update(hex.as_bytes());
    let digest = ctx.finish();
    let h = hex::encode(&digest.as_ref()[..8]);
    format!("{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

/// One finding as every form shows it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub severity: Severity,
    /// The kind's stable name (`snake_case`, as in the JSON); `review-kind-<name>` labels it.
    pub kind: &'static str,
    pub time: Timestamp,
    pub terminal: String,
    pub operator: String,
    pub card: String,
    /// The records that show it.
    pub records: String,
    pub detail: String,
}

impl Row {
    pub fn label(&self, lang: Lang) -> String {
        kind_label(self.kind, lang)
    }
}

/// The finding kind `kind` (`snake_case`) in `lang`.
pub fn kind_label(kind: &str, lang: Lang) -> String {
    let id = format!("review-kind-{}", kind.replace('_', "-"));
    if cardgate_i18n::catalogue(lang).has(&id) {
        tr!(lang, &id)
    } else {
        kind.to_owned()
    }
}

/// What the access manager should do about a finding of kind `kind`, in `lang`.
pub fn kind_action(kind: &str, lang: Lang) -> String {
    let id = format!("review-action-{}", kind.replace('_', "-"));
    if cardgate_i18n::catalogue(lang).has(&id) {
        tr!(lang, &id)
    } else {
        String::new()
    }
}

fn kind_name(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::RevokedCardPresented => "revoked_card_presented",
        AnomalyKind::UnknownCardPresented => "unknown_card_presented",
        AnomalyKind::OutsideBusinessHours => "outside_business_hours",
        AnomalyKind::CardOnTwoTerminals => "card_on_two_terminals",
        AnomalyKind::UseAfterWithdrawal => "use_after_withdrawal",
        AnomalyKind::SessionNeverEnded => "session_never_ended",
        AnomalyKind::PukRejected => "puk_rejected",
        AnomalyKind::ManagerRefused => "manager_refused",
    }
}

fn severity(kind: AnomalyKind) -> Severity {
    match kind {
        AnomalyKind::RevokedCardPresented
        | AnomalyKind::UnknownCardPresented
        | AnomalyKind::CardOnTwoTerminals
        | AnomalyKind::UseAfterWithdrawal
        | AnomalyKind::PukRejected
        | AnomalyKind::ManagerRefused => Severity::High,
        AnomalyKind::OutsideBusinessHours | AnomalyKind::SessionNeverEnded => Severity::Normal,
    }
}

/// The findings as rows, the most severe first, each severity in time order across terminals
/// (a tie in time keeps the terminal, then the record number, in order).
pub(crate) fn rows(report: &Report, view: &View) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for v in &view.verification {
        if let Some(p) = &v.outcome.problem {
            rows.push(Row {
                severity: Severity::Critical,
                kind: "log_not_intact",
                time: report
                    .to
                    .or(report.from)
                    .unwrap_or_else(|| Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH)),
                terminal: v.dir.clone(),
                operator: String::new(),
                card: String::new(),
                records: p.seq.to_string(),
                detail: p.to_string(),
            });
        }
    }
    for a in &report.anomalies {
        rows.push(Row {
            severity: severity(a.kind),
            kind: kind_name(a.kind),
            time: a.time,
            terminal: a.terminal.clone(),
            operator: a.operator.clone().unwrap_or_default(),
            card: a.card.clone().unwrap_or_default(),
            records: a.seq.to_string(),
            detail: a.detail.clone(),
        });
    }
    rows.sort_by(|a, b| {
        (a.severity, a.time, &a.terminal, &a.records).cmp(&(
            b.severity,
            b.time,
            &b.terminal,
            &b.records,
        ))
    });
    rows
}

/// The count columns of the per-operator and per-terminal tables: message ID, whether a
/// non-zero value is something wrong (shown in red), and the value.
pub(crate) fn count_columns(c: &Counts) -> [(&'static str, bool, u64); 9] {
    [
        ("review-col-logins", false, c.logins),
        ("review-col-denied", false, c.denied),
        ("review-col-failed-pins", false, c.failed_pins),
        ("review-col-lockouts", true, c.lockouts),
        ("review-col-bad-cards", true, c.bad_cards),
        ("review-col-outside-hours", true, c.outside_hours),
        ("review-col-two-terminals", true, c.on_two_terminals),
        ("review-col-after-return", true, c.after_withdrawal),
        ("review-col-never-ended", true, c.never_ended),
    ]
}

/// The message IDs of the count columns, in order.
pub(crate) fn count_headers() -> [&'static str; 9] {
    count_columns(&Counts::default()).map(|(id, _, _)| id)
}

/// One day of the period, for the day chart and days.csv.
#[derive(Debug, Clone)]
pub(crate) struct DayRow {
    pub date: Date,
    pub logins: u64,
    /// Findings on that day.
    pub findings: u64,
    /// Why no one is expected at work, if so: the weekend, a holiday's name, a closed day.
    pub off: Option<String>,
}

fn local_date(t: Timestamp, offset: UtcOffset) -> Option<Date> {
    t.to_datetime().map(|d| d.to_offset(offset).date())
}

/// Most days one chart shows (a review of more than about three years is split by period).
const MAX_DAYS: usize = 1200;

/// Every day of the period, days without logins included. The period is the report's
/// `from`/`to` when given, else the first and last day that has a login or a finding.
pub(crate) fn days(report: &Report, view: &View) -> Vec<DayRow> {
    let lang = view.lang;
    let mut logins = std::collections::BTreeMap::<Date, u64>::new();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    for (day, n) in &report.logins_per_day {
        if let Ok(d) = Date::parse(day, format) {
            *logins.entry(d).or_default() += n;
        }
    }
    let mut findings = std::collections::BTreeMap::<Date, u64>::new();
    for a in &report.anomalies {
        if let Some(d) = local_date(a.time, view.offset) {
            *findings.entry(d).or_default() += 1;
        }
    }
    let known = logins.keys().chain(findings.keys());
    let first = report
        .from
        .and_then(|t| local_date(t, view.offset))
        .or_else(|| known.clone().min().copied());
    // `to` is exclusive: the last day is the one before the instant it names.
    let last = report
        .to
        .and_then(Timestamp::to_datetime)
        .map(|d| {
            (d - time::Duration::milliseconds(1))
                .to_offset(view.offset)
                .date()
        })
        .or_else(|| known.max().copied());
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut day = first;
    while day <= last && out.len() < MAX_DAYS {
        let weekday =
            cardgate_office::hours::Day::ALL[usize::from(day.weekday().number_days_from_monday())];
        let off = match view.calendar.day_off(day) {
            Some(DayOff::Holiday(h)) => Some(match lang {
                Lang::Ja => h.name_ja.to_owned(),
                Lang::En => h.name_en.to_owned(),
            }),
            Some(DayOff::Closed { reason, .. }) => Some(match reason {
                cardgate_office::calendar::ClosedReason::YearEnd => {
                    tr!(lang, "review-day-year-end")
                }
                _ => tr!(lang, "review-day-closed"),
            }),
            None if !view.hours.is_working_day(weekday) => Some(tr!(lang, "review-day-weekend")),
            None => None,
        };
        out.push(DayRow {
            date: day,
            logins: logins.get(&day).copied().unwrap_or(0),
            findings: findings.get(&day).copied().unwrap_or(0),
            off,
        });
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

/// A date with its weekday: `2026-11-03 (火)`, `2026-11-03 (Tue)`.
pub(crate) fn date_label(date: Date, lang: Lang) -> String {
    let i = usize::from(date.weekday().number_days_from_monday());
    let name = match lang {
        Lang::Ja => ["月", "火", "水", "木", "金", "土", "日"][i],
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i],
    };
    format!(
        "{:04}-{:02}-{:02} ({name})",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A register's name (`room_entry`, `media`, …) in `lang`.
pub(crate) fn register_label(register: &str, lang: Lang) -> String {
    let id = format!("review-register-{}", register.replace('_', "-"));
    if cardgate_i18n::catalogue(lang).has(&id) {
        tr!(lang, &id)
    } else {
        register.to_owned()
    }
}

/// The period in the office's time zone.
pub(crate) fn period(report: &Report, view: &View) -> (String, String) {
    let lang = view.lang;
    (
        report
            .from
            .map(|t| view.time(t))
            .unwrap_or_else(|| tr!(lang, "review-period-log-start")),
        report
            .to
            .map(|t| view.time(t))
            .unwrap_or_else(|| tr!(lang, "review-period-log-end")),
    )
}

/// The verification summary lines, in `lang`: one per log, then the key.
pub(crate) fn verification_lines(view: &View) -> Vec<(bool, String)> {
    let lang = view.lang;
    let mut out = Vec::new();
    if view.verification.is_empty() {
        out.push((false, tr!(lang, "review-verify-not-run")));
    }
    for v in &view.verification {
        let o = &v.outcome;
        let line = match &o.problem {
            None if o.key_checked => tr!(
                lang,
                "review-verify-intact-key",
                dir = v.dir.clone(),
                records = o.records,
                seals = o.seals
            ),
            None => tr!(
                lang,
                "review-verify-intact-no-key",
                dir = v.dir.clone(),
                records = o.records,
                seals = o.seals
            ),
            Some(p) => tr!(
                lang,
                "review-verify-broken",
                dir = v.dir.clone(),
                seq = p.seq,
                problem = p.to_string()
            ),
        };
        out.push((o.problem.is_some(), line));
        if let Some(tail) = &o.unsealed_tail {
            out.push((
                false,
                tr!(
                    lang,
                    "review-verify-unsealed",
                    count = tail.count(),
                    first = tail.first_seq,
                    last = tail.last_seq
                ),
            ));
        }
    }
    out.push((
        false,
        match &view.key_fingerprint {
            Some(f) => tr!(lang, "review-key-fingerprint", fingerprint = f.clone()),
            None => tr!(lang, "review-key-none"),
        },
    ));
    out
}

/// The report's data as pretty JSON (times in UTC as the log keeps them; not translated, for
/// programs).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// The text form in English with Japan time (kept for callers without a [`View`]).
pub fn table(report: &Report) -> String {
    text(report, &View::new(Lang::En))
}

/// The HTML page in English with Japan time (kept for callers without a [`View`]).
pub fn html(report: &Report) -> String {
    page(report, &View::new(Lang::En))
}

/// The findings table as CSV, in English with Japan time (kept for callers without a
/// [`View`]; [`csv_files`] gives every table).
pub fn csv(report: &Report) -> String {
    let files = csv_files(report, &View::new(Lang::En));
    files
        .into_iter()
        .find(|f| f.name == "findings.csv")
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_finding_kind_and_severity_has_a_label_and_an_action_in_both_languages() {
        let kinds = [
            AnomalyKind::RevokedCardPresented,
            AnomalyKind::UnknownCardPresented,
            AnomalyKind::OutsideBusinessHours,
            AnomalyKind::CardOnTwoTerminals,
            AnomalyKind::UseAfterWithdrawal,
            AnomalyKind::SessionNeverEnded,
            AnomalyKind::PukRejected,
            AnomalyKind::ManagerRefused,
        ];
        for lang in Lang::ALL {
            let c = cardgate_i18n::catalogue(lang);
            for k in kinds.map(kind_name).into_iter().chain(["log_not_intact"]) {
                let id = k.replace('_', "-");
                assert!(c.has(&format!("review-kind-{id}")), "{lang}: {k}");
                assert!(c.has(&format!("review-action-{id}")), "{lang}: {k}");
            }
            for s in [Severity::Critical, Severity::High, Severity::Normal] {
                assert!(c.has(s.id()), "{lang}: {s:?}");
            }
        }
    }

    #[test]
    fn the_fingerprint_names_the_key_without_showing_it() {
        let key = SealKey::generate().unwrap();
        let f = key_fingerprint(&key);
        assert_eq!(f.len(), 19, "{f}");
        assert!(!key.to_hex().contains(&f.replace('-', "")));
        assert_eq!(f, key_fingerprint(&key));
        assert_ne!(f, key_fingerprint(&SealKey::generate().unwrap()));
    }

    #[test]
    fn dates_carry_their_weekday() {
        let d = Date::from_calendar_date(2026, time::Month::November, 3).unwrap();
        assert_eq!(date_label(d, Lang::Ja), "2026-11-03 (火)");
        assert_eq!(date_label(d, Lang::En), "2026-11-03 (Tue)");
    }
}
