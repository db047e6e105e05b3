//! The review as text for a terminal, columns aligned by display width (Japanese takes two
//! columns a character).
//!
//! Everything is written into a `String` with `write!`, whose `fmt::Write` cannot fail; the
//! `let _ =` on those writes drops a `Result` that is always `Ok`.

use std::fmt::Write as _;

use cardgate_i18n::table::{Align, Table};
use cardgate_i18n::{tr, Lang};
use time::UtcOffset;

use super::{count_columns, count_headers, date_label, period, rows, verification_lines, View};
use crate::report::{Counts, Report};
use crate::verify::VerifyOutcome;

fn counts_table(
    lang: Lang,
    first: &str,
    rows: &std::collections::BTreeMap<String, Counts>,
) -> String {
    let headers: Vec<String> = std::iter::once(first.to_owned())
        .chain(count_headers().iter().map(|id| tr!(lang, id)))
        .collect();
    let mut t = Table::new(headers);
    for i in 1..=count_headers().len() {
        t = t.align(i, Align::Right);
    }
    for (name, c) in rows {
        t.row(
            std::iter::once(name.clone())
                .chain(count_columns(c).iter().map(|(_, _, v)| v.to_string())),
        );
    }
    t.render()
}

/// The review as text: the verification and the key first, then the findings (most severe
/// first, in time order), the counts per operator and per terminal, the days off on which
/// someone logged in, and the register notes.
pub fn text(report: &Report, view: &View) -> String {
    let lang = view.lang;
    let (from, to) = period(report, view);
    let mut out = String::new();
    let _ = writeln!(out, "{}", tr!(lang, "review-title"));
    let _ = writeln!(out, "{}", tr!(lang, "review-period", from = from, to = to));
    let _ = writeln!(
        out,
        "{}",
        tr!(lang, "review-records", count = report.records)
    );
    let _ = writeln!(out, "{}", super::rules_line(view));
    out.push('\n');
    let _ = writeln!(out, "{}", tr!(lang, "review-verification"));
    for (bad, line) in verification_lines(report, view) {
        let mark = if bad { "!! " } else { "   " };
        let _ = writeln!(out, "{mark}{line}");
    }
    out.push('\n');

    let rows = rows(report, view);
    if rows.is_empty() {
        let _ = writeln!(out, "{}", tr!(lang, "review-findings-none"));
    } else {
        let _ = writeln!(
            out,
            "{}",
            tr!(lang, "review-findings-count", count = rows.len())
        );
        let mut t = Table::new([
            tr!(lang, "review-col-severity"),
            tr!(lang, "review-col-time"),
            tr!(lang, "review-col-finding"),
            tr!(lang, "review-col-terminal"),
            tr!(lang, "review-col-operator"),
            tr!(lang, "review-col-card"),
            tr!(lang, "review-col-records"),
            tr!(lang, "review-col-detail"),
        ]);
        for r in &rows {
            t.row([
                super::severity_label(r.severity, lang),
                view.time_or_dash(r.time),
                r.label(lang),
                r.terminal.clone(),
                r.operator.clone(),
                r.card.clone(),
                r.records.clone(),
                r.detail.clone(),
            ]);
        }
        out.push_str(&t.render());
    }
    out.push('\n');
    let _ = writeln!(out, "{}", tr!(lang, "review-per-operator"));
    out.push_str(&counts_table(
        lang,
        &tr!(lang, "review-col-operator"),
        &report.per_operator,
    ));
    out.push('\n');
    let _ = writeln!(out, "{}", tr!(lang, "review-per-terminal"));
    out.push_str(&counts_table(
        lang,
        &tr!(lang, "review-col-terminal"),
        &report.per_terminal,
    ));

    let days = super::days(report, view);
    let off_with_logins: Vec<_> = days
        .iter()
        .filter(|d| d.off.is_some() && d.logins > 0)
        .collect();
    if !off_with_logins.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "{}", tr!(lang, "review-days-off-with-logins"));
        let mut t = Table::new([
            tr!(lang, "review-col-date"),
            tr!(lang, "review-col-day-off"),
            tr!(lang, "review-col-logins"),
        ])
        .align(2, Align::Right);
        for d in off_with_logins {
            t.row([
                date_label(d.date, lang),
                d.off.clone().unwrap_or_default(),
                d.logins.to_string(),
            ]);
        }
        out.push_str(&t.render());
    }

    if !report.notes.is_empty() {
        out.push('\n');
        let _ = writeln!(
            out,
            "{}",
            tr!(lang, "review-notes-count", count = report.notes.len())
        );
        let mut t = Table::new([
            tr!(lang, "review-col-time"),
            tr!(lang, "review-col-register"),
            tr!(lang, "review-col-who"),
            tr!(lang, "review-col-escort"),
            tr!(lang, "review-col-by"),
            tr!(lang, "review-col-text"),
        ]);
        for n in &report.notes {
            t.row([
                view.time(n.time),
                super::register_label(n.register, lang),
                n.who.clone().unwrap_or_default(),
                n.escort.clone().unwrap_or_default(),
                n.by.clone().unwrap_or_default(),
                n.text.replace('\n', " / "),
            ]);
        }
        out.push_str(&t.render());
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        tr!(lang, "review-times-in", offset = offset_text(view.offset))
    );
    out
}

/// `+09:00`.
pub(crate) fn offset_text(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// What `cardgatectl audit verify` prints, in `lang`, times in the office's zone.
pub fn verify_text(
    outcome: &VerifyOutcome,
    fingerprint: Option<&str>,
    lang: Lang,
    offset: UtcOffset,
) -> String {
    let mut out = String::new();
    match &outcome.problem {
        None => {
            let _ = writeln!(
                out,
                "{}",
                tr!(
                    lang,
                    "review-verify-summary-intact",
                    records = outcome.records,
                    seals = outcome.seals,
                    bytes = outcome.bytes
                )
            );
            let _ = writeln!(
                out,
                "{}",
                match (outcome.key_checked, fingerprint) {
                    (true, Some(f)) => tr!(lang, "review-verify-key-checked", fingerprint = f),
                    _ => tr!(lang, "review-verify-key-unchecked"),
                }
            );
        }
        Some(p) => {
            let _ = writeln!(
                out,
                "{}",
                tr!(
                    lang,
                    "review-verify-summary-broken",
                    seq = p.seq,
                    problem = p.to_string()
                )
            );
        }
    }
    if let Some(tail) = &outcome.unsealed_tail {
        let _ = writeln!(
            out,
            "{}",
            tr!(
                lang,
                "review-verify-summary-unsealed",
                count = tail.count(),
                first = tail.first_seq,
                last = tail.last_seq,
                since = super::local_time(tail.since, offset)
            )
        );
    }
    if outcome.key_update_pending {
        let _ = writeln!(out, "{}", tr!(lang, "review-verify-key-update-pending"));
    }
    if outcome.key_file_not_readable_here {
        let _ = writeln!(out, "{}", tr!(lang, "review-verify-key-file-not-readable"));
    }
    out
}
