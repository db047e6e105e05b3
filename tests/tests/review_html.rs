//! The access manager's review as they read it (issue 12, points 4 and 7), on logs that only
//! the real daemon wrote (`cardgate_tests::scripted`: the real stack through a scripted day
//! and month): the real `cardgatectl audit report` in Japanese as HTML, rendered by headless
//! Debian Chromium to a PNG (the screenshot in docs/audit.md: with `CARDGATE_UPDATE_DOCS=1`
//! the test copies it to docs/images/review-ja.png); the CSV files; the English text.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cardgate_tests::scripted::{scripted_day, scripted_month, Scripted};

const CHROMIUM: &str = "/usr/bin/chromium";
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 1600;

fn report(s: &Scripted, args: &[&str]) -> std::process::Output {
    let mut full: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    for dir in &s.log_dirs {
        full.push("--dir".into());
        full.push(dir.display().to_string());
    }
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    s.office.ctl(&refs, "").unwrap()
}

/// The review's findings as the JSON form gives them: kind, the minute in JST
/// (`YYYY-MM-DD hh:mm`), and the terminal.
fn review_findings(s: &Scripted, period: &[&str]) -> Vec<(String, String, String)> {
    let mut args = vec!["audit", "report", "--format", "json"];
    args.extend_from_slice(period);
    let out = report(s, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            // A finding about a whole log has no time; none is expected in these scripts.
            let at = cardgate_audit::Timestamp::parse(f["time"].as_str()?)
                .unwrap()
                .to_datetime()
                .unwrap()
                .to_offset(jst);
            Some((
                f["kind"].as_str().unwrap().to_owned(),
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute()
                ),
                f["terminal"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Renders `html` with headless Chromium into `png`, killing it if it hangs.
fn screenshot(html: &Path, png: &Path, profile: &Path) {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/chromium (Debian package chromium)");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(status.success(), "chromium: {status}: {}", text(&out));
            return;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("chromium did not finish in 180 s: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Width and height of a PNG file, after checking its signature and its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "not a PNG: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "the first chunk is not IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn the_html_review_of_a_month_is_japanese_in_jst_with_a_sign_off_and_renders_in_chromium() {
    let month = scripted_month().unwrap();
    let out_dir = month.office.dir.join("review");
    std::fs::create_dir_all(&out_dir).unwrap();
    let html_path = out_dir.join("review-ja.html");
    let out = report(
        &month,
        &[
            "--lang",
            "ja",
            "audit",
            "report",
            "--format",
            "html",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(&html_path).unwrap();

    // Japanese, in Japan time, with the sign-off block.
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
    assert!(html.contains("端末操作履歴 点検結果報告書"));
    assert!(html.contains("対象期間: 2026-11-01 (日) ～ 2026-11-30 (月)"));
    for word in ["確認欄", "確認者", "確認日", "印", "所見・指示事項"] {
        assert!(html.contains(word), "no {word}");
    }
    assert!(html.contains("class=\"signoff\""));
    assert!(html.contains("@page{size:A4"), "printable on A4");
    assert!(!html.contains(".000Z"), "a time in UTC is shown");
    // Every finding of the review (its data, as JSON), at its time in JST.
    let findings = review_findings(&month, &["--from", "2026-11-01", "--to", "2026-11-30"]);
    assert!(!findings.is_empty());
    for (kind, minute, terminal) in &findings {
        assert!(html.contains(&format!("data-kind=\"{kind}\"")), "{kind}");
        assert!(
            html.contains(&format!("<td class=\"time\">{minute}")),
            "{minute} ({kind})"
        );
        assert!(
            html.contains(&format!("<td>{terminal}</td>")),
            "{terminal} ({kind})"
        );
    }
    assert_eq!(
        html.matches(" data-kind=\"").count(),
        findings.len(),
        "one row per finding"
    );
    // The holidays of the month are named on the day axis.
    assert!(html.contains("(勤労感謝の日)") && html.contains("(文化の日)"));
    // The continuous day axis: all 30 days of November are columns, the weekends and the
    // two holidays shaded.
    assert_eq!(html.matches("<g><title>2026-11-").count(), 30);
    assert!(html.contains("<g><title>2026-11-03 (火): ログイン 1 件 (文化の日)"));
    assert!(html.contains("<g><title>2026-11-08 (日): ログイン 0 件 (週休日)"));
    // Self-contained: nothing to fetch.
    for fetch in ["<script", "src=", "href=", "url(", "@import", "<link"] {
        assert!(!html.contains(fetch), "{fetch}");
    }

    // Rendered by a real browser.
    let png = out_dir.join("review-ja.png");
    screenshot(&html_path, &png, &out_dir.join("chromium-profile"));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (WIDTH, HEIGHT));
    if std::env::var("CARDGATE_UPDATE_DOCS").as_deref() == Ok("1") {
        let images = cardgate_tests::paths::workspace_root().join("docs/images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::copy(&png, images.join("review-ja.png")).unwrap();
    }
}

fn csv_lines(dir: &Path, name: &str) -> Vec<String> {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{name}: no UTF-8 BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.ends_with("\r\n"), "{name}: not CRLF");
    let lines: Vec<String> = text.split_terminator("\r\n").map(str::to_owned).collect();
    let columns = lines[0].split("\",\"").count();
    for line in &lines {
        assert!(
            line.starts_with('"') && line.ends_with('"'),
            "{name}: {line}"
        );
        assert!(!line.contains('\n'), "{name}: a bare LF in {line:?}");
        assert_eq!(
            line.split("\",\"").count(),
            columns,
            "{name}: one table, one header: {line}"
        );
    }
    lines
}

#[test]
fn a_day_as_csv_files_and_as_english_text() {
    let day = scripted_day().unwrap();
    let csv_dir: PathBuf = day.office.dir.join("csv");
    let out = report(
        &day,
        &[
            "--lang",
            "ja",
            "audit",
            "report",
            "--format",
            "csv",
            "--out",
            csv_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let findings = csv_lines(&csv_dir, "findings.csv");
    assert!(
        findings[0].starts_with("\"区分\",\"日時\",\"所見\""),
        "{}",
        findings[0]
    );
    let expected = review_findings(&day, &[]);
    assert_eq!(
        findings.len(),
        expected.len() + 1,
        "one row per finding: {findings:#?}"
    );
    for (kind, minute, terminal) in &expected {
        assert!(
            findings.iter().any(|l| l.contains(&format!("\"{kind}\""))
                && l.contains(&format!("\"{minute}"))
                && l.contains(&format!("\"{terminal}\""))),
            "{kind} {minute} {terminal} not in {findings:#?}"
        );
    }
    // Card serials keep their leading zeros: quoted like every field.
    for (_, serial) in &day.cards {
        if findings.iter().any(|l| l.contains(serial.as_str())) {
            assert!(findings
                .iter()
                .any(|l| l.contains(&format!("\"{serial}\""))));
        }
    }
    let operators = csv_lines(&csv_dir, "operators.csv");
    assert!(
        operators[0].starts_with("\"操作者\",\"ログイン\""),
        "{}",
        operators[0]
    );
    let terminals = csv_lines(&csv_dir, "terminals.csv");
    assert!(terminals.len() >= 3, "two terminals: {terminals:#?}");
    let days = csv_lines(&csv_dir, "days.csv");
    assert!(
        days.iter().any(|l| l.starts_with("\"2026-11-25 (水)\"")),
        "{days:#?}"
    );
    csv_lines(&csv_dir, "notes.csv");
    csv_lines(&csv_dir, "verification.csv");

    // The same review as English text.
    let out = report(&day, &["--lang", "en", "audit", "report"]);
    let en = text(&out);
    assert_eq!(out.status.code(), Some(0), "{en}");
    assert!(en.starts_with("Audit review of terminal use"), "{en}");
    assert!(
        en.contains("All times are the office's local time (UTC+09:00)."),
        "{en}"
    );
    assert!(en.contains("2026-11-25 ") && en.contains(" +09:00"), "{en}");
    assert!(!en.contains(".000Z"), "{en}");
    assert!(
        en.contains(&format!(
            "Findings: {}, the most severe first",
            expected.len()
        )),
        "{en}"
    );
    assert!(en.contains("burst of wrong PINs"), "{en}");
    assert!(en.contains("revoked card presented"), "{en}");
}
