//! The review as the access manager reads it: text for a terminal ([`text`]), a
//! self-contained HTML page to print and sign ([`page`]), CSV for a spreadsheet, one table
//! per file ([`csv_files`]), and the data as JSON ([`json`]).
//!
//! Everything a person reads is in their language (`review.ftl`, Japanese or English) and
//! every time is in the office's legal time zone (JST by default), in the one format
//! `cardgate_office::hours::format_local`. The findings come first, the most severe at the
//! top (a log replaced or rolled back between two reviews, a log that did not verify), each
//! group in time order across terminals; the verification result and the key used head
//! every form.

use cardgate_i18n::{tr, Lang};
use cardgate_office::calendar::{ClosedReason, DayOff, OfficeCalendar};
use cardgate_office::hours::BusinessHours;
use time::{Date, UtcOffset};

use super::{
    Break, BurstScope, Counts, Detail, Finding, NeverEnded, NeverIssuedBasis, RecordRef, Report,
    Severity, VerificationStatus, Withdrawal,
};
use crate::record::Timestamp;

mod csv;
mod html;
mod text;

pub use csv::{csv_files, CsvFile};
pub use html::page;
pub use text::{text, verify_text};

/// The message ID of a severity in `review.ftl`.
fn severity_id(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "review-severity-critical",
        Severity::High => "review-severity-high",
        Severity::Medium => "review-severity-medium",
    }
}

/// A severity's name in `lang`.
pub fn severity_label(s: Severity, lang: Lang) -> String {
    tr!(lang, severity_id(s))
}

/// What the presentation needs besides the report: the reader's language, and the office's
/// time zone, business days and calendar (to shade the days off in the day chart).
#[derive(Debug, Clone)]
pub struct View {
    /// The language of every label.
    pub lang: Lang,
    /// The office's legal time zone: every time is shown in it.
    pub offset: UtcOffset,
    /// Business hours (working days are not shaded in the day chart).
    pub hours: BusinessHours,
    /// The office's calendar: national holidays and closed days are shaded.
    pub calendar: OfficeCalendar,
}

impl View {
    /// `lang`, Japan time, Monday to Friday, national holidays and the year-end closure.
    pub fn new(lang: Lang) -> View {
        View {
            lang,
            offset: UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC),
            hours: BusinessHours::default(),
            calendar: OfficeCalendar::default(),
        }
    }

    /// `lang`, and the time zone, hours and calendar the review was made with.
    pub fn of(lang: Lang, options: &super::ReportOptions) -> View {
        View {
            lang,
            offset: options.utc_offset,
            hours: options.hours.clone(),
            calendar: options.calendar.clone(),
        }
    }

    fn time(&self, t: Timestamp) -> String {
        local_time(t, self.offset)
    }

    fn time_or_dash(&self, t: Option<Timestamp>) -> String {
        t.map(|t| self.time(t)).unwrap_or_else(|| "—".to_owned())
    }
}

/// True when the review rests on a log that can be trusted: no log failed verification and
/// every log extends the previous checkpoint (no critical finding). A review without k(0) is
/// trusted as far as it goes; it says so at its top.
pub fn is_trusted(report: &Report) -> bool {
    !report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Critical)
        && report.verification != Some(VerificationStatus::NotIntact)
}

/// `t` as the office reads it: `2026-11-03 10:00:05 +09:00`.
pub fn local_time(t: Timestamp, offset: UtcOffset) -> String {
    t.to_datetime()
        .map(|d| cardgate_office::hours::format_local(d, offset))
        .unwrap_or_else(|| t.to_string())
}

/// One finding as every form shows it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub severity: Severity,
    /// The kind's stable name (`snake_case`, as in the JSON); `review-kind-<name>` labels it.
    pub kind: &'static str,
    pub time: Option<Timestamp>,
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

fn id_of(prefix: &str, name: &str) -> String {
    format!("{prefix}{}", name.replace('_', "-"))
}

/// The finding kind `kind` (its `snake_case` name) in `lang`.
pub fn kind_label(kind: &str, lang: Lang) -> String {
    let id = id_of("review-kind-", kind);
    if cardgate_i18n::catalogue(lang).has(&id) {
        tr!(lang, &id)
    } else {
        kind.to_owned()
    }
}

/// What the access manager should do about a finding of kind `kind`, in `lang`.
pub fn kind_action(kind: &str, lang: Lang) -> String {
    let id = id_of("review-action-", kind);
    if cardgate_i18n::catalogue(lang).has(&id) {
        tr!(lang, &id)
    } else {
        String::new()
    }
}

/// A closed-set reason from the log (`lost`, `wrong_pin`, …) in `lang`; unknown ones as
/// written.
fn reason_label(reason: &str, lang: Lang) -> String {
    let id = id_of("review-reason-", reason);
    if cardgate_i18n::catalogue(lang).has(&id) {
        tr!(lang, &id)
    } else {
        reason.to_owned()
    }
}

fn seq_or_dash(seq: Option<u64>) -> String {
    seq.map(|s| s.to_string()).unwrap_or_else(|| "—".to_owned())
}

fn record_text(r: &RecordRef, several_logs: bool) -> String {
    if several_logs {
        format!("{} #{}", r.log, r.seq)
    } else {
        r.seq.to_string()
    }
}

/// The finding's detail as a sentence in the reader's language.
fn detail(f: &Finding, view: &View, several_logs: bool) -> String {
    let lang = view.lang;
    match &f.detail {
        // The one finding without data of its own: an attempt the daemon refused out of hours.
        Detail::None if f.kind == super::FindingKind::OutsideBusinessHours => {
            tr!(lang, "review-detail-refused-out-of-hours")
        }
        Detail::None => String::new(),
        Detail::LogNotExtended {
            how,
            checkpoint_seq,
            checkpoint_epoch,
            found_seq,
            found_epoch,
        } => {
            let how = match how {
                Break::Missing => "review-break-missing",
                Break::Replaced => "review-break-replaced",
                Break::Truncated => "review-break-truncated",
                Break::Rewritten => "review-break-rewritten",
                Break::RolledBack => "review-break-rolled-back",
            };
            tr!(
                lang,
                "review-detail-log-not-extended",
                how = tr!(lang, how),
                checkpoint_seq = *checkpoint_seq,
                checkpoint_epoch = seq_or_dash(*checkpoint_epoch),
                found_seq = seq_or_dash(*found_seq),
                found_epoch = seq_or_dash(*found_epoch)
            )
        }
        Detail::LogNotIntact {
            first_bad,
            problem,
            key_may_be_wrong,
            ..
        } => {
            let mut text = tr!(
                lang,
                "review-detail-log-not-intact",
                first_bad = *first_bad,
                problem = problem.clone()
            );
            if *key_may_be_wrong {
                text.push(' ');
                text.push_str(&tr!(lang, "review-detail-key-may-be-wrong"));
            }
            text
        }
        Detail::RecordGap {
            first_missing,
            last_missing,
        } => tr!(
            lang,
            "review-detail-record-gap",
            first = *first_missing,
            last = *last_missing
        ),
        Detail::Revoked { reason } => tr!(
            lang,
            "review-detail-revoked",
            reason = reason_label(reason, lang)
        ),
        Detail::CertificateRejected { reason } => tr!(
            lang,
            "review-detail-certificate-rejected",
            reason = reason_label(reason, lang)
        ),
        Detail::NeverIssued { basis } => tr!(
            lang,
            match basis {
                NeverIssuedBasis::NotInRegister => "review-detail-not-in-register",
                NeverIssuedBasis::NoIssueRecord => "review-detail-no-issue-record",
            }
        ),
        Detail::AfterWithdrawal {
            how,
            at,
            record,
            refused,
        } => {
            let id = match how {
                Withdrawal::Returned => "review-detail-after-returned",
                Withdrawal::Revoked => "review-detail-after-revoked",
            };
            let mut text = tr!(
                lang,
                id,
                at = view.time_or_dash(*at),
                record = record
                    .as_ref()
                    .map(|r| record_text(r, several_logs))
                    .unwrap_or_else(|| "—".to_owned())
            );
            if *refused {
                text.push(' ');
                text.push_str(&tr!(lang, "review-detail-refused"));
            }
            text
        }
        Detail::TwoTerminals {
            other_terminal,
            other_since,
            other_record,
            ..
        } => tr!(
            lang,
            "review-detail-two-terminals",
            terminal = other_terminal.clone(),
            since = view.time(*other_since),
            record = record_text(other_record, several_logs)
        ),
        Detail::Burst {
            scope,
            count,
            window_minutes,
        } => tr!(
            lang,
            match scope {
                BurstScope::Card => "review-detail-burst-card",
                BurstScope::Terminal => "review-detail-burst-terminal",
            },
            count = *count,
            minutes = *window_minutes
        ),
        Detail::Holiday { holiday } => match lang {
            Lang::Ja => holiday.name_ja.to_owned(),
            Lang::En => holiday.name_en.to_owned(),
        },
        Detail::ClosedDay { date, reason } => format!(
            "{} {}",
            date_label(*date, lang),
            match reason {
                ClosedReason::YearEnd => tr!(lang, "review-day-year-end"),
                ClosedReason::Configured => tr!(lang, "review-day-closed"),
            }
        ),
        Detail::Hours { ended } => match ended {
            Some(end) => tr!(
                lang,
                "review-detail-hours-until",
                start = view.time_or_dash(f.time),
                end = view.time(*end)
            ),
            None => tr!(lang, "review-detail-hours-open"),
        },
        Detail::NeverEnded { why } => tr!(
            lang,
            match why {
                NeverEnded::Superseded => "review-detail-superseded",
                NeverEnded::DaemonRestarted => "review-detail-daemon-restarted",
                NeverEnded::OpenAtEnd => "review-detail-open-at-end",
            }
        ),
        Detail::Puk { by, tries_left } => match tries_left {
            Some(0) => tr!(lang, "review-detail-puk-blocked-now", by = by.clone()),
            Some(n) => tr!(lang, "review-detail-puk", by = by.clone(), tries = *n),
            None => tr!(lang, "review-detail-puk-was-blocked", by = by.clone()),
        },
        Detail::ManagerRefused {
            by,
            reason,
            tries_left,
        } => {
            let mut text = tr!(
                lang,
                "review-detail-manager-refused",
                by = by.clone(),
                reason = reason_label(reason, lang)
            );
            if let Some(n) = tries_left {
                text.push(' ');
                text.push_str(&tr!(lang, "review-detail-tries-left", tries = *n));
            }
            text
        }
        Detail::Terminal {
            count,
            seq,
            last_time,
            last_kind,
        } => {
            let id = match f.kind {
                super::FindingKind::TerminalConflict => "review-detail-terminal-conflict",
                super::FindingKind::TerminalReplaced => "review-detail-terminal-replaced",
                super::FindingKind::TerminalResent => "review-detail-terminal-resent",
                super::FindingKind::TerminalUnreadable => "review-detail-terminal-unreadable",
                super::FindingKind::TerminalSilent => "review-detail-terminal-silent",
                super::FindingKind::TerminalLate => "review-detail-terminal-late",
                _ => "review-detail-terminal-empty",
            };
            tr!(
                lang,
                id,
                count = *count,
                seq = seq_or_dash(*seq),
                since = view.time_or_dash(*last_time),
                last = last_kind.clone().unwrap_or_else(|| "—".to_owned())
            )
        }
    }
}

/// The findings as rows: the most severe first, each severity in time order across
/// terminals (ties by record).
pub(crate) fn rows(report: &Report, view: &View) -> Vec<Row> {
    let several_logs = report.logs.len() > 1;
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by(|a, b| {
        (a.severity, a.time, a.records.first(), a.kind).cmp(&(
            b.severity,
            b.time,
            b.records.first(),
            b.kind,
        ))
    });
    findings
        .into_iter()
        .map(|f| Row {
            severity: f.severity,
            kind: f.kind.as_str(),
            time: f.time,
            terminal: f
                .terminal
                .clone()
                .or_else(|| f.log.clone())
                .unwrap_or_default(),
            operator: f.operator.clone().unwrap_or_default(),
            card: f.card.clone().unwrap_or_default(),
            records: f
                .records
                .iter()
                .map(|r| record_text(r, several_logs))
                .collect::<Vec<_>>()
                .join(", "),
            detail: if f.unsealed {
                let d = detail(f, view, several_logs);
                let u = tr!(view.lang, "review-detail-unsealed");
                if d.is_empty() {
                    u
                } else {
                    format!("{d} {u}")
                }
            } else {
                detail(f, view, several_logs)
            },
        })
        .collect()
}

/// The count columns of the per-operator and per-terminal tables: message ID, whether a
/// non-zero value is something wrong (shown in red), and the value.
pub(crate) fn count_columns(c: &Counts) -> [(&'static str, bool, u64); 10] {
    [
        ("review-col-logins", false, c.logins),
        ("review-col-denied", false, c.denied),
        ("review-col-failed-pins", false, c.failed_pins),
        ("review-col-lockouts", true, c.lockouts),
        ("review-col-bad-cards", true, c.bad_cards),
        ("review-col-outside-hours", true, c.outside_hours),
        ("review-col-days-off", true, c.on_days_off),
        ("review-col-two-terminals", true, c.on_two_terminals),
        ("review-col-after-return", true, c.after_withdrawal),
        ("review-col-never-ended", true, c.never_ended),
    ]
}

/// The message IDs of the count columns, in order.
pub(crate) fn count_headers() -> [&'static str; 10] {
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
    for f in &report.findings {
        if let Some(d) = f.time.and_then(|t| local_date(t, view.offset)) {
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

/// The rules the review applied, in `lang`: business days and hours, and the days off.
pub(crate) fn rules_line(view: &View) -> String {
    let lang = view.lang;
    let names = match lang {
        Lang::Ja => ["月", "火", "水", "木", "金", "土", "日"],
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    };
    let days: Vec<&str> = cardgate_office::hours::Day::ALL
        .into_iter()
        .zip(names)
        .filter(|(d, _)| view.hours.is_working_day(*d))
        .map(|(_, n)| n)
        .collect();
    let windows: Vec<String> = view
        .hours
        .windows()
        .iter()
        .map(|w| format!("{}–{}", w.start(), w.end()))
        .collect();
    let mut off = Vec::new();
    if view.calendar.national_holidays {
        off.push(tr!(lang, "review-rules-holidays"));
    }
    if view.calendar.year_end_closure {
        off.push(tr!(lang, "review-day-year-end"));
    }
    if !view.calendar.closed_days.is_empty() {
        off.push(tr!(
            lang,
            "review-rules-closed-days",
            count = view.calendar.closed_days.len()
        ));
    }
    let sep = match lang {
        Lang::Ja => "・",
        Lang::En => ", ",
    };
    tr!(
        lang,
        "review-rules",
        days = days.join(sep),
        hours = windows.join(sep),
        off = if off.is_empty() {
            tr!(lang, "review-rules-no-days-off")
        } else {
            off.join(sep)
        }
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

/// The period in the office's time zone: a bound at local midnight as a date (the end
/// inclusive, as `--to` takes it: `2026-11-01 ～ 2026-11-30`), any other as a full time.
pub(crate) fn period(report: &Report, view: &View) -> (String, String) {
    let lang = view.lang;
    let show = |t: Timestamp, end: bool| {
        let Some(local) = t.to_datetime().map(|d| d.to_offset(view.offset)) else {
            return t.to_string();
        };
        if local.time() != time::Time::MIDNIGHT {
            return view.time(t);
        }
        let date = if end {
            local.date().previous_day().unwrap_or(local.date())
        } else {
            local.date()
        };
        date_label(date, lang)
    };
    (
        report
            .from
            .map(|t| show(t, false))
            .unwrap_or_else(|| tr!(lang, "review-period-log-start")),
        report
            .to
            .map(|t| show(t, true))
            .unwrap_or_else(|| tr!(lang, "review-period-log-end")),
    )
}

/// The verification summary lines, in `lang`, each marked when it is something wrong: one per
/// log, the key used, and the previous checkpoint.
pub(crate) fn verification_lines(report: &Report, view: &View) -> Vec<(bool, String)> {
    let lang = view.lang;
    let mut out = Vec::new();
    for log in &report.logs {
        let v = &log.verification;
        let dir = log.dir.clone();
        let line = match v.status {
            VerificationStatus::Intact => tr!(
                lang,
                "review-verify-intact-key",
                dir = dir,
                records = v.records,
                seals = v.seals
            ),
            VerificationStatus::Unverified => tr!(
                lang,
                "review-verify-intact-no-key",
                dir = dir,
                records = v.records,
                seals = v.seals
            ),
            VerificationStatus::NotIntact => {
                let mut text = tr!(
                    lang,
                    "review-verify-broken",
                    dir = dir,
                    seq = seq_or_dash(v.first_bad),
                    problem = v.problem.clone().unwrap_or_default()
                );
                if v.key_may_be_wrong {
                    text.push(' ');
                    text.push_str(&tr!(lang, "review-detail-key-may-be-wrong"));
                }
                text
            }
        };
        out.push((v.status == VerificationStatus::NotIntact, line));
        if let (Some(first), Some(last)) = (v.unsealed_from, log.last_seq) {
            out.push((
                false,
                tr!(
                    lang,
                    "review-verify-unsealed",
                    count = last.saturating_sub(first) + 1,
                    first = first,
                    last = last
                ),
            ));
        }
    }
    if report.logs.is_empty() {
        out.push((false, tr!(lang, "review-verify-not-run")));
    }
    out.push((
        false,
        match &report.key_fingerprint {
            Some(f) => tr!(lang, "review-key-fingerprint", fingerprint = f.clone()),
            None => tr!(lang, "review-key-none"),
        },
    ));
    out.push(match &report.previous_checkpoint {
        None => (false, tr!(lang, "review-checkpoint-none")),
        Some(p) if p.extended => (
            false,
            tr!(lang, "review-checkpoint-extended", made = view.time(p.made)),
        ),
        Some(p) => (
            true,
            tr!(lang, "review-checkpoint-broken", made = view.time(p.made)),
        ),
    });
    out
}

/// The report's data as pretty JSON (times in UTC as the log keeps them; not translated, for
/// programs).
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::FindingKind;

    const KINDS: [FindingKind; 26] = [
        FindingKind::LogNotExtended,
        FindingKind::LogNotIntact,
        FindingKind::RecordGap,
        FindingKind::RevokedCardPresented,
        FindingKind::UnknownCardPresented,
        FindingKind::CardNeverIssued,
        FindingKind::UseAfterReturn,
        FindingKind::CardOnTwoTerminals,
        FindingKind::OperatorOnTwoTerminals,
        FindingKind::FailedPinBurst,
        FindingKind::DenialBurst,
        FindingKind::OnNationalHoliday,
        FindingKind::OnClosedDay,
        FindingKind::OutsideBusinessHours,
        FindingKind::SessionNeverEnded,
        FindingKind::PukRejected,
        FindingKind::ManagerRefused,
        FindingKind::LockNotHeld,
        FindingKind::ReaderServiceLost,
        FindingKind::TerminalConflict,
        FindingKind::TerminalReplaced,
        FindingKind::TerminalResent,
        FindingKind::TerminalUnreadable,
        FindingKind::TerminalSilent,
        FindingKind::TerminalLate,
        FindingKind::TerminalEmpty,
    ];

    #[test]
    fn every_finding_kind_and_severity_has_a_label_and_an_action_in_both_languages() {
        for lang in Lang::ALL {
            let c = cardgate_i18n::catalogue(lang);
            for k in KINDS {
                assert!(c.has(&id_of("review-kind-", k.as_str())), "{lang}: {k:?}");
                assert!(c.has(&id_of("review-action-", k.as_str())), "{lang}: {k:?}");
            }
            for s in [Severity::Critical, Severity::High, Severity::Medium] {
                assert!(c.has(severity_id(s)), "{lang}: {s:?}");
            }
        }
    }

    #[test]
    fn dates_carry_their_weekday() {
        let d = Date::from_calendar_date(2026, time::Month::November, 3).unwrap();
        assert_eq!(date_label(d, Lang::Ja), "2026-11-03 (火)");
        assert_eq!(date_label(d, Lang::En), "2026-11-03 (Tue)");
    }

    #[test]
    fn the_most_severe_come_first_then_time_order_across_terminals() {
        let t = |s: &str| Some(Timestamp::parse(s).unwrap());
        let mut report = Report::default();
        let finding = |kind, time, terminal: &str| {
            let mut f = Finding::new(kind, Detail::None);
            f.time = time;
            f.terminal = Some(terminal.to_owned());
            f
        };
        report.findings = vec![
            finding(
                FindingKind::OutsideBusinessHours,
                t("2026-11-02T10:00:00.000Z"),
                "juki-02",
            ),
            finding(
                FindingKind::OutsideBusinessHours,
                t("2026-11-02T09:00:00.000Z"),
                "juki-01",
            ),
            finding(
                FindingKind::RevokedCardPresented,
                t("2026-11-05T00:00:00.000Z"),
                "juki-01",
            ),
            finding(FindingKind::LogNotExtended, None, "juki-01"),
        ];
        let view = View::new(Lang::En);
        let order: Vec<(&str, String)> = rows(&report, &view)
            .into_iter()
            .map(|r| (r.kind, r.terminal))
            .collect();
        assert_eq!(
            order,
            [
                ("log_not_extended", "juki-01".to_owned()),
                ("revoked_card_presented", "juki-01".to_owned()),
                ("outside_business_hours", "juki-01".to_owned()),
                ("outside_business_hours", "juki-02".to_owned()),
            ]
        );
        assert!(!is_trusted(&report));
    }
}
