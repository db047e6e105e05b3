//! The review as CSV, one table per file, the way Japanese Excel opens it without a wizard:
//! UTF-8 with a byte-order mark, CRLF line ends, every field quoted (numbers too, so that a
//! card serial such as `0011223344556677` keeps its leading zeros), and a field that starts
//! with `= + - @` (or a tab or CR) prefixed with `'` so that it is never run as a formula.

use cardgate_i18n::tr;

use super::{count_columns, count_headers, date_label, rows, verification_lines, View};
use crate::report::{Counts, Report};

/// One CSV file of the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFile {
    /// Its file name: `findings.csv`, `operators.csv`, `terminals.csv`, `days.csv`,
    /// `notes.csv`, `verification.csv`.
    pub name: &'static str,
    /// Its bytes: a UTF-8 BOM, then CRLF-terminated rows.
    pub bytes: Vec<u8>,
}

/// The UTF-8 byte-order mark Excel needs to read a CSV file as UTF-8.
const BOM: &str = "\u{feff}";

fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

struct Sheet(String);

impl Sheet {
    fn new() -> Sheet {
        Sheet(BOM.to_owned())
    }

    fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let cells: Vec<String> = cells.into_iter().map(|c| field(c.as_ref())).collect();
        self.0.push_str(&cells.join(","));
        self.0.push_str("\r\n");
    }

    fn file(self, name: &'static str) -> CsvFile {
        CsvFile {
            name,
            bytes: self.0.into_bytes(),
        }
    }
}

fn counts_sheet(
    view: &View,
    first: &str,
    rows: &std::collections::BTreeMap<String, Counts>,
) -> Sheet {
    let lang = view.lang;
    let mut s = Sheet::new();
    s.row(std::iter::once(tr!(lang, first)).chain(count_headers().iter().map(|id| tr!(lang, id))));
    for (name, c) in rows {
        s.row(
            std::iter::once(name.clone())
                .chain(count_columns(c).iter().map(|(_, _, v)| v.to_string())),
        );
    }
    s
}

/// Every table of the review, one file each, headers in the reader's language and times in
/// the office's zone.
pub fn csv_files(report: &Report, view: &View) -> Vec<CsvFile> {
    let lang = view.lang;
    let mut findings = Sheet::new();
    findings.row([
        tr!(lang, "review-col-severity"),
        tr!(lang, "review-col-time"),
        tr!(lang, "review-col-finding"),
        tr!(lang, "review-col-kind-code"),
        tr!(lang, "review-col-terminal"),
        tr!(lang, "review-col-operator"),
        tr!(lang, "review-col-card"),
        tr!(lang, "review-col-records"),
        tr!(lang, "review-col-detail"),
    ]);
    for r in rows(report, view) {
        findings.row([
            super::severity_label(r.severity, lang),
            view.time_or_dash(r.time),
            r.label(lang),
            r.kind.to_owned(),
            r.terminal,
            r.operator,
            r.card,
            r.records,
            r.detail,
        ]);
    }

    let mut days = Sheet::new();
    days.row([
        tr!(lang, "review-col-date"),
        tr!(lang, "review-col-day-off"),
        tr!(lang, "review-col-logins"),
        tr!(lang, "review-col-findings"),
    ]);
    for d in super::days(report, view) {
        days.row([
            date_label(d.date, lang),
            d.off.unwrap_or_default(),
            d.logins.to_string(),
            d.findings.to_string(),
        ]);
    }

    let mut notes = Sheet::new();
    notes.row([
        tr!(lang, "review-col-time"),
        tr!(lang, "review-col-register"),
        tr!(lang, "review-col-who"),
        tr!(lang, "review-col-escort"),
        tr!(lang, "review-col-by"),
        tr!(lang, "review-col-text"),
        tr!(lang, "review-col-records"),
    ]);
    for n in &report.notes {
        notes.row([
            view.time(n.time),
            super::register_label(n.register, lang),
            n.who.clone().unwrap_or_default(),
            n.escort.clone().unwrap_or_default(),
            n.by.clone().unwrap_or_default(),
            n.text.clone(),
            n.seq.to_string(),
        ]);
    }

    let mut verification = Sheet::new();
    verification.row([
        tr!(lang, "review-col-problem"),
        tr!(lang, "review-col-detail"),
    ]);
    for (bad, line) in verification_lines(report, view) {
        verification.row([
            if bad {
                tr!(lang, "review-severity-critical")
            } else {
                String::new()
            },
            line,
        ]);
    }

    vec![
        findings.file("findings.csv"),
        counts_sheet(view, "review-col-operator", &report.per_operator).file("operators.csv"),
        counts_sheet(view, "review-col-terminal", &report.per_terminal).file("terminals.csv"),
        days.file("days.csv"),
        notes.file("notes.csv"),
        verification.file("verification.csv"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("0011"), "\"0011\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=1+1"), "\"'=1+1\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(field("a,b\r\nc"), "\"a,b\r\nc\"");
    }
}
