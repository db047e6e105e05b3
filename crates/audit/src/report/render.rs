//! The report as a terminal table, JSON, CSV, or a self-contained HTML page with inline SVG
//! charts (no scripts, no external resources).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Counts, Finding, FindingKind, Report};

// Until the presentation is rewritten (issue 12, point 4): the typed findings as the old
// columns showed them.
fn first_seq(a: &Finding) -> String {
    a.records
        .first()
        .map_or_else(|| "-".to_owned(), |r| r.seq.to_string())
}

fn when(a: &Finding) -> String {
    a.time.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

fn place(a: &Finding) -> &str {
    a.terminal.as_deref().or(a.log.as_deref()).unwrap_or("-")
}

fn detail(a: &Finding) -> String {
    match &a.detail {
        super::Detail::Puk {
            by,
            tries_left: Some(0),
        } => format!("wrong PUK by {by}; the PUK is now blocked"),
        super::Detail::Puk {
            by,
            tries_left: Some(n),
        } => format!("wrong PUK by {by}; {n} tries left"),
        super::Detail::Puk {
            by,
            tries_left: None,
        } => format!("PUK offered by {by} to a card whose PUK is blocked"),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

const COLUMNS: [&str; 9] = [
    "logins",
    "denied",
    "failed PINs",
    "lockouts",
    "bad cards",
    "outside hours",
    "two terminals",
    "after return",
    "never ended",
];

fn values(c: &Counts) -> [u64; 9] {
    [
        c.logins,
        c.denied,
        c.failed_pins,
        c.lockouts,
        c.bad_cards,
        c.outside_hours,
        c.on_two_terminals,
        c.after_withdrawal,
        c.never_ended,
    ]
}

fn period(report: &Report) -> String {
    let show = |t: Option<crate::record::Timestamp>| t.map_or("…".to_owned(), |t| t.to_string());
    format!("{} to {}", show(report.from), show(report.to))
}

fn table_section(out: &mut String, title: &str, rows: &BTreeMap<String, Counts>) {
    let name_width = rows
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(title.len());
    let _ = write!(out, "{title:<name_width$}");
    for c in COLUMNS {
        let _ = write!(out, "  {c:>w$}", w = c.len().max(5));
    }
    out.push('\n');
    for (name, counts) in rows {
        let _ = write!(out, "{name:<name_width$}");
        for (c, v) in COLUMNS.iter().zip(values(counts)) {
            let _ = write!(out, "  {v:>w$}", w = c.len().max(5));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// A plain-text table for a terminal.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "Audit review, {}: {} records\n\n",
        period(report),
        report.records
    );
    table_section(&mut out, "operator", &report.per_operator);
    table_section(&mut out, "terminal", &report.per_terminal);
    if report.findings.is_empty() {
        out.push_str("Findings: none\n");
    } else {
        let _ = writeln!(out, "Findings ({}):", report.findings.len());
        for a in &report.findings {
            let _ = writeln!(
                out,
                "  #{:<8} {}  {:<30}  terminal {}  operator {}  card {}  {}",
                first_seq(a),
                when(a),
                a.kind.as_str(),
                place(a),
                a.operator.as_deref().unwrap_or("-"),
                a.card.as_deref().unwrap_or("-"),
                detail(a)
            );
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nRegister notes ({}):", report.notes.len());
        for n in &report.notes {
            let _ = writeln!(
                out,
                "  #{:<8} {}  {:<13}  who {}  escort {}  by {}  {}",
                n.seq,
                n.time,
                n.register,
                n.who.as_deref().unwrap_or("-"),
                n.escort.as_deref().unwrap_or("-"),
                n.by.as_deref().unwrap_or("-"),
                n.text.replace('\n', " / ")
            );
        }
    }
    out
}

/// JSON (pretty).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

fn csv_field(text: &str) -> String {
    // Quote everything; a leading = + - @ is neutralised so spreadsheets do not run formulas.
    let guarded = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// CSV: one section per table, each row `section,name,columns…` or a finding/note row.
pub fn csv(report: &Report) -> String {
    let mut out = String::from("\"section\",\"name\"");
    for c in COLUMNS {
        let _ = write!(out, ",{}", csv_field(c));
    }
    out.push_str("\r\n");
    for (section, rows) in [
        ("operator", &report.per_operator),
        ("terminal", &report.per_terminal),
    ] {
        for (name, counts) in rows {
            let _ = write!(out, "{},{}", csv_field(section), csv_field(name));
            for v in values(counts) {
                let _ = write!(out, ",{v}");
            }
            out.push_str("\r\n");
        }
    }
    out.push_str(
        "\r\n\"finding\",\"seq\",\"time\",\"terminal\",\"operator\",\"card\",\"detail\"\r\n",
    );
    for a in &report.findings {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{}\r\n",
            csv_field(a.kind.as_str()),
            first_seq(a),
            csv_field(&when(a)),
            csv_field(place(a)),
            csv_field(a.operator.as_deref().unwrap_or("")),
            csv_field(a.card.as_deref().unwrap_or("")),
            csv_field(&detail(a))
        );
    }
    out.push_str("\r\n\"note\",\"seq\",\"time\",\"who\",\"escort\",\"text\",\"by\"\r\n");
    for n in &report.notes {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{}\r\n",
            csv_field(n.register),
            n.seq,
            csv_field(&n.time.to_string()),
            csv_field(n.who.as_deref().unwrap_or("")),
            csv_field(n.escort.as_deref().unwrap_or("")),
            csv_field(&n.text),
            csv_field(n.by.as_deref().unwrap_or(""))
        );
    }
    out
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A horizontal bar chart as inline SVG.
fn bar_chart(title: &str, bars: &[(String, u64)], colour: &str) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let row = 22;
    let height = 30 + row * bars.len().max(1);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 10 + i * row;
        let width = (*value as f64 / max as f64 * 400.0).round() as u64;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"180\" y=\"{y}\" width=\"{width}\" height=\"16\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{value}</text>",
            y + 13,
            esc(label),
            186 + width,
            y + 13
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn html_table(title: &str, rows: &BTreeMap<String, Counts>) -> String {
    let mut out = format!("<h2>{}</h2><table><tr><th>{}</th>", esc(title), esc(title));
    for c in COLUMNS {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr>");
    for (name, counts) in rows {
        let _ = write!(out, "<tr><td>{}</td>", esc(name));
        for v in values(counts) {
            let class = if v > 0 { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{class}>{v}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// A self-contained HTML page: tables, findings, notes and inline SVG charts. No scripts.
pub fn html(report: &Report) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cardgate audit review</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #999;padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}.n{background:#fdd}figure{margin:1em 0}</style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>cardgate audit review</h1><p>Period: {}. Records: {}. Findings: {}.</p>",
        esc(&period(report)),
        report.records,
        report.findings.len()
    );
    let logins: Vec<(String, u64)> = report
        .per_operator
        .iter()
        .map(|(k, c)| (k.clone(), c.logins))
        .collect();
    out.push_str(&bar_chart("Logins per operator", &logins, "#4a7bb7"));
    let failed: Vec<(String, u64)> = report
        .per_operator
        .iter()
        .map(|(k, c)| (k.clone(), c.failed_pins))
        .collect();
    out.push_str(&bar_chart("Failed PINs per operator", &failed, "#c0504d"));
    let mut by_kind: BTreeMap<FindingKind, u64> = BTreeMap::new();
    for a in &report.findings {
        *by_kind.entry(a.kind).or_default() += 1;
    }
    let kinds: Vec<(String, u64)> = by_kind
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), *v))
        .collect();
    out.push_str(&bar_chart("Findings by kind", &kinds, "#d08c2a"));
    let days: Vec<(String, u64)> = report
        .logins_per_day
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    out.push_str(&bar_chart("Logins per day", &days, "#6a9f58"));
    out.push_str(&html_table("operator", &report.per_operator));
    out.push_str(&html_table("terminal", &report.per_terminal));
    out.push_str("<h2>Findings</h2><table><tr><th>record</th><th>time</th><th>finding</th><th>terminal</th><th>operator</th><th>card</th><th>detail</th></tr>");
    for a in &report.findings {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            first_seq(a),
            when(a),
            esc(a.kind.as_str()),
            esc(place(a)),
            esc(a.operator.as_deref().unwrap_or("-")),
            esc(a.card.as_deref().unwrap_or("-")),
            esc(&detail(a))
        );
    }
    out.push_str("</table><h2>Register notes</h2><table><tr><th>record</th><th>time</th><th>register</th><th>who</th><th>escort</th><th>text</th><th>by</th></tr>");
    for n in &report.notes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            n.seq,
            n.time,
            esc(n.register),
            esc(n.who.as_deref().unwrap_or("-")),
            esc(n.escort.as_deref().unwrap_or("-")),
            esc(&n.text),
            esc(n.by.as_deref().unwrap_or("-"))
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
