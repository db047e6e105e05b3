//! The review as one self-contained HTML page to read on screen and to print on A4 and sign:
//! inline CSS and SVG only, no scripts, no fonts or images from anywhere (the machine that
//! opens it may have no network, and a page that fetched something would tell someone that
//! the review was read). Colour only where something is wrong: red for the findings that
//! need action and the days someone worked who should not have; days off are shaded grey.
//!
//! Everything is written into a `String` with `write!`, whose `fmt::Write` cannot fail; the
//! `let _ =` on those writes drops a `Result` that is always `Ok`.

use std::fmt::Write as _;

use cardgate_i18n::{tr, Lang};

use super::text::offset_text;
use super::{
    count_columns, count_headers, date_label, period, rows, verification_lines, DayRow, Row,
    Severity, View,
};
use crate::report::{Counts, Report};

/// Escapes text for HTML content and attribute values.
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

const CSS: &str = r#"
@page{size:A4 portrait;margin:14mm 12mm}
*{box-sizing:border-box}
body{font-family:"IPAGothic","IPAexGothic","Noto Sans CJK JP","Hiragino Kaku Gothic ProN","Yu Gothic","Meiryo",sans-serif;font-size:10pt;line-height:1.45;color:#111;background:#fff;margin:0 auto;max-width:186mm;padding:8mm 2mm}
h1{font-size:16pt;margin:0 0 1mm}
h2{font-size:12pt;border-bottom:1.5px solid #333;margin:6mm 0 2mm;padding-bottom:0.5mm}
p{margin:1mm 0}
.meta{color:#333}
table{border-collapse:collapse;width:100%;margin:1.5mm 0 3mm}
th,td{border:1px solid #888;padding:0.8mm 1.5mm;vertical-align:top;text-align:left}
th{background:#eee;font-weight:bold;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.time,td.sev,td.nowrap{white-space:nowrap}
td.detail{overflow-wrap:anywhere}
td.bad{color:#b00000;font-weight:bold}
tr.critical td{background:#fde8e8;color:#8a0000}
tr.high td.sev{color:#b00000;font-weight:bold}
.box{border:1px solid #555;padding:2mm 3mm;margin:2mm 0}
.box.bad,.alert{border:2px solid #c00000;background:#fde8e8;color:#8a0000}
.box ul,.alert ul{margin:0;padding-left:5mm}
.box h2{margin-top:0}
.alert{padding:2mm 3mm;margin:3mm 0;font-weight:bold}
.alert h2{color:#b00000;border-color:#c00000;margin-top:0}
thead{display:table-header-group}
tr,figure,.signoff,.box{break-inside:avoid;page-break-inside:avoid}
figure{margin:2mm 0}
figcaption{font-weight:bold;margin-bottom:1mm}
.legend{font-size:8.5pt;color:#333}
.legend span{display:inline-block;width:3mm;height:3mm;border:1px solid #888;vertical-align:middle;margin:0 1mm 0 3mm}
svg{display:block;width:100%;height:auto}
svg text{font-family:inherit}
.signoff th{width:24mm}
.signoff td{height:13mm}
.signoff td.seal{width:26mm;height:26mm}
.signoff td.remarks{height:22mm}
footer{margin-top:4mm;font-size:8.5pt;color:#444}
@media screen{body{max-width:1120px;padding:16px 24px}}
@media print{body{padding:0;max-width:none}}
"#;

fn counts_table(
    lang: Lang,
    first: &str,
    rows: &std::collections::BTreeMap<String, Counts>,
) -> String {
    let mut out = format!("<table><thead><tr><th>{}</th>", esc(first));
    for id in count_headers() {
        let _ = write!(out, "<th class=\"num\">{}</th>", esc(&tr!(lang, id)));
    }
    out.push_str("</tr></thead><tbody>");
    for (name, c) in rows {
        let _ = write!(out, "<tr><td>{}</td>", esc(name));
        for (_, wrong, v) in count_columns(c) {
            let class = if wrong && v > 0 { "num bad" } else { "num" };
            let _ = write!(out, "<td class=\"{class}\">{v}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn findings_table(view: &View, rows: &[Row]) -> String {
    let lang = view.lang;
    let mut out = String::from("<table class=\"findings\"><thead><tr>");
    for id in [
        "review-col-severity",
        "review-col-time",
        "review-col-finding",
        "review-col-terminal",
        "review-col-operator",
        "review-col-card",
        "review-col-records",
        "review-col-detail",
    ] {
        let _ = write!(out, "<th>{}</th>", esc(&tr!(lang, id)));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        let class = match r.severity {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\" data-kind=\"{}\"><td class=\"sev\">{}</td><td class=\"time\">{}</td><td>{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td class=\"num\">{}</td><td class=\"detail\">{}</td></tr>",
            esc(r.kind),
            esc(&super::severity_label(r.severity, lang)),
            esc(&view.time_or_dash(r.time)),
            esc(&r.label(lang)),
            esc(&r.terminal),
            esc(&r.operator),
            esc(&r.card),
            esc(&r.records),
            esc(&r.detail)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// What each kind of finding in this report means to do, with its count.
fn actions_table(lang: Lang, rows: &[Row]) -> String {
    let mut kinds: Vec<(Severity, &str, usize)> = Vec::new();
    for r in rows {
        match kinds.iter_mut().find(|k| k.1 == r.kind) {
            Some(k) => k.2 += 1,
            None => kinds.push((r.severity, r.kind, 1)),
        }
    }
    kinds.sort();
    let mut out = format!(
        "<table><thead><tr><th>{}</th><th class=\"num\">{}</th><th>{}</th></tr></thead><tbody>",
        esc(&tr!(lang, "review-col-finding")),
        esc(&tr!(lang, "review-col-count")),
        esc(&tr!(lang, "review-col-action")),
    );
    for (severity, kind, n) in kinds {
        let class = if severity == Severity::Critical {
            " class=\"critical\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr{class}><td>{}</td><td class=\"num\">{n}</td><td>{}</td></tr>",
            esc(&super::kind_label(kind, lang)),
            esc(&super::kind_action(kind, lang))
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// Logins per day on a continuous day axis: every day of the period is a column, days off
/// shaded, a day with a finding or with logins on a day off in red. The labels lie inside the
/// drawing (its `viewBox`), so the page scales it instead of clipping them.
fn day_chart(view: &View, days: &[DayRow]) -> String {
    let lang = view.lang;
    let title = tr!(lang, "review-chart-days");
    if days.is_empty() {
        return format!(
            "<figure><figcaption>{}</figcaption><p>{}</p></figure>",
            esc(&title),
            esc(&tr!(lang, "review-chart-no-days"))
        );
    }
    let (left, right, top, bottom) = (34.0_f64, 6.0_f64, 14.0_f64, 34.0_f64);
    let width = 700.0_f64;
    let plot_h = 150.0_f64;
    let height = top + plot_h + bottom;
    let n = days.len() as f64;
    let col = (width - left - right) / n;
    let max = days.iter().map(|d| d.logins).max().unwrap_or(0).max(1);
    // A readable label every `step` days.
    let step = if col >= 16.0 {
        1
    } else if col >= 8.0 {
        2
    } else if col >= 3.0 {
        7
    } else {
        30
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        esc(&title)
    );
    let base = top + plot_h;
    // Axis: 0 and the maximum, with a faint line at the maximum.
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{}\" y2=\"{top}\" stroke=\"#ccc\" stroke-width=\"0.6\"/><text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"end\">0</text>",
        width - right,
        left - 4.0,
        top + 3.0,
        left - 4.0,
        base + 3.0
    );
    let mut last_month = None;
    for (i, d) in days.iter().enumerate() {
        let x = left + col * i as f64;
        let wrong = d.findings > 0 || (d.off.is_some() && d.logins > 0);
        let mut tip = format!(
            "{}: {}",
            date_label(d.date, lang),
            tr!(lang, "review-chart-logins", count = d.logins)
        );
        if let Some(off) = &d.off {
            let _ = write!(tip, " ({off})");
        }
        if d.findings > 0 {
            let _ = write!(
                tip,
                "; {}",
                tr!(lang, "review-chart-findings", count = d.findings)
            );
        }
        let _ = write!(svg, "<g><title>{}</title>", esc(&tip));
        if d.off.is_some() {
            let _ = write!(
                svg,
                "<rect x=\"{x:.2}\" y=\"{top}\" width=\"{col:.2}\" height=\"{plot_h}\" fill=\"#e4e4e4\"/>"
            );
        }
        if d.logins > 0 {
            let h = (d.logins as f64 / max as f64 * plot_h).max(1.0);
            let fill = if wrong { "#c00000" } else { "#555" };
            let _ = write!(
                svg,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{h:.2}\" fill=\"{fill}\"/>",
                x + col * 0.15,
                base - h,
                col * 0.7
            );
            if col >= 16.0 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.2}\" y=\"{:.2}\" font-size=\"8\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
                    x + col / 2.0,
                    base - h - 2.0,
                    if wrong { "#c00000" } else { "#333" },
                    d.logins
                );
            }
        } else if d.findings > 0 {
            // A finding on a day without logins (a denied card, say): a red mark on the axis.
            let _ = write!(
                svg,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"3\" fill=\"#c00000\"/>",
                x + col * 0.15,
                base - 3.0,
                col * 0.7
            );
        }
        svg.push_str("</g>");
        let day = d.date.day();
        if i % step == 0 || day == 1 {
            let _ = write!(
                svg,
                "<text x=\"{:.2}\" y=\"{:.2}\" font-size=\"8\" text-anchor=\"middle\" fill=\"{}\">{day}</text>",
                x + col / 2.0,
                base + 10.0,
                if d.off.is_some() { "#666" } else { "#111" }
            );
        }
        let month = (d.date.year(), d.date.month());
        if last_month != Some(month) {
            last_month = Some(month);
            let label = match lang {
                Lang::Ja => format!("{}年{}月", d.date.year(), u8::from(d.date.month())),
                Lang::En => format!("{} {}", d.date.month(), d.date.year()),
            };
            let _ = write!(
                svg,
                "<line x1=\"{x:.2}\" y1=\"{base}\" x2=\"{x:.2}\" y2=\"{:.2}\" stroke=\"#888\" stroke-width=\"0.6\"/><text x=\"{:.2}\" y=\"{:.2}\" font-size=\"9\">{}</text>",
                base + 24.0,
                x + 2.0,
                base + 24.0,
                esc(&label)
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\" stroke-width=\"0.8\"/></svg>",
        width - right
    );
    format!(
        "<figure><figcaption>{}</figcaption>{svg}<div class=\"legend\"><span style=\"background:#555\"></span>{}<span style=\"background:#c00000\"></span>{}<span style=\"background:#e4e4e4\"></span>{}</div></figure>",
        esc(&title),
        esc(&tr!(lang, "review-chart-legend-logins")),
        esc(&tr!(lang, "review-chart-legend-wrong")),
        esc(&tr!(lang, "review-chart-legend-off"))
    )
}

fn signoff(lang: Lang) -> String {
    format!(
        "<section class=\"signoff\"><h2>{}</h2><table class=\"signoff\"><tr><th>{}</th><td></td><th rowspan=\"2\">{}</th><td rowspan=\"2\" class=\"seal\"></td></tr><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td colspan=\"3\" class=\"remarks\"></td></tr></table></section>",
        esc(&tr!(lang, "review-signoff")),
        esc(&tr!(lang, "review-signoff-reviewer")),
        esc(&tr!(lang, "review-signoff-seal")),
        esc(&tr!(lang, "review-signoff-date")),
        esc(&tr!(lang, "review-signoff-date-blank")),
        esc(&tr!(lang, "review-signoff-remarks")),
    )
}

/// The review as a self-contained HTML page in the reader's language: verification and key
/// at the top, then anything critical in red, the findings, what to do about each kind, the
/// day chart, the counts, the register notes and the sign-off block.
pub fn page(report: &Report, view: &View) -> String {
    let lang = view.lang;
    let (from, to) = period(report, view);
    let title = tr!(lang, "review-title");
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{CSS}</style></head><body>",
        lang.tag(),
        esc(&title)
    );
    let _ = write!(
        out,
        "<header><h1>{}</h1><p class=\"meta\">{}</p><p class=\"meta\">{}</p><p class=\"meta\">{}</p><p class=\"meta\">{}</p></header>",
        esc(&title),
        esc(&tr!(lang, "review-period", from = from, to = to)),
        esc(&tr!(lang, "review-records", count = report.records)),
        esc(&super::rules_line(view)),
        esc(&tr!(lang, "review-times-in", offset = offset_text(view.offset)))
    );

    let lines = verification_lines(report, view);
    let any_bad = lines.iter().any(|(bad, _)| *bad);
    let _ = write!(
        out,
        "<section class=\"box{}\" id=\"verification\"><h2>{}</h2><ul>",
        if any_bad { " bad" } else { "" },
        esc(&tr!(lang, "review-verification"))
    );
    for (bad, line) in &lines {
        let _ = write!(
            out,
            "<li{}>{}</li>",
            if *bad { " class=\"bad\"" } else { "" },
            esc(line)
        );
    }
    out.push_str("</ul></section>");

    let rows = rows(report, view);
    let critical: Vec<&Row> = rows
        .iter()
        .filter(|r| r.severity == Severity::Critical)
        .collect();
    if !critical.is_empty() {
        let _ = write!(
            out,
            "<section class=\"alert\" id=\"critical\"><h2>{}</h2><ul>",
            esc(&tr!(lang, "review-critical"))
        );
        for r in critical {
            let _ = write!(
                out,
                "<li>{}: {} ({})</li>",
                esc(&r.label(lang)),
                esc(&r.detail),
                esc(&r.terminal)
            );
        }
        out.push_str("</ul></section>");
    }

    let _ = write!(
        out,
        "<section id=\"findings\"><h2>{}</h2>",
        esc(&tr!(lang, "review-findings"))
    );
    if rows.is_empty() {
        let _ = write!(out, "<p>{}</p>", esc(&tr!(lang, "review-findings-none")));
    } else {
        let _ = write!(
            out,
            "<p>{}</p>",
            esc(&tr!(lang, "review-findings-count", count = rows.len()))
        );
        out.push_str(&actions_table(lang, &rows));
        out.push_str(&findings_table(view, &rows));
    }
    out.push_str("</section>");

    let days = super::days(report, view);
    out.push_str("<section id=\"days\">");
    out.push_str(&day_chart(view, &days));
    out.push_str("</section>");

    let _ = write!(
        out,
        "<section id=\"operators\"><h2>{}</h2>{}</section><section id=\"terminals\"><h2>{}</h2>{}</section>",
        esc(&tr!(lang, "review-per-operator")),
        counts_table(lang, &tr!(lang, "review-col-operator"), &report.per_operator),
        esc(&tr!(lang, "review-per-terminal")),
        counts_table(lang, &tr!(lang, "review-col-terminal"), &report.per_terminal)
    );

    if !report.notes.is_empty() {
        let _ = write!(
            out,
            "<section id=\"notes\"><h2>{}</h2><table><thead><tr>",
            esc(&tr!(lang, "review-notes"))
        );
        for id in [
            "review-col-time",
            "review-col-register",
            "review-col-who",
            "review-col-escort",
            "review-col-by",
            "review-col-text",
        ] {
            let _ = write!(out, "<th>{}</th>", esc(&tr!(lang, id)));
        }
        out.push_str("</tr></thead><tbody>");
        for n in &report.notes {
            let _ = write!(
                out,
                "<tr><td class=\"time\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
                esc(&view.time(n.time)),
                esc(&super::register_label(n.register, lang)),
                esc(n.who.as_deref().unwrap_or("")),
                esc(n.escort.as_deref().unwrap_or("")),
                esc(n.by.as_deref().unwrap_or("")),
                esc(&n.text)
            );
        }
        out.push_str("</tbody></table></section>");
    }

    out.push_str(&signoff(lang));
    let _ = writeln!(
        out,
        "<footer>{}</footer></body></html>",
        esc(&tr!(lang, "review-footer"))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_page_is_self_contained_and_has_a_sign_off_block() {
        for lang in Lang::ALL {
            let page = page(&Report::default(), &View::new(lang));
            assert!(!page.contains("<script"), "{lang}");
            // Nothing is fetched: no source, link, stylesheet import or CSS url().
            for fetch in ["src=", "href=", "@import", "url(", "<link"] {
                assert!(!page.contains(fetch), "{lang}: {fetch}");
            }
            assert!(page.contains("class=\"signoff\""), "{lang}");
        }
        let ja = page(&Report::default(), &View::new(Lang::Ja));
        for word in ["確認者", "確認日", "印"] {
            assert!(ja.contains(word), "{word}");
        }
    }
}
