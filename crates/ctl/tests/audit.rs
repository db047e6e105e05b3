//! `cardgatectl audit …` as the access manager runs it: the binary, real log files, the
//! daemon's configuration file, the language and the exit statuses (crate::exit).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ctl_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ctl(args: &[&str]) -> Output {
    ctl_env(args, "", &[])
}

fn all(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Site {
    dir: PathBuf,
    log: PathBuf,
    config: PathBuf,
    k0: String,
}

impl Site {
    /// A log made by `audit init` in the directory the configuration names, with one note.
    fn new(name: &str, config_extra: &str) -> Site {
        let dir =
            std::env::temp_dir().join(format!("cardgatectl-audit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("audit");
        let config = dir.join("cardgated.toml");
        std::fs::write(
            &config,
            format!(
                "{config_extra}\n[audit]\ndir = {:?}\n\n[[terminal]]\nid = \"juki-01\"\nreader = \"r\"\n",
                log.display().to_string()
            ),
        )
        .unwrap();
        let c = config.to_str().unwrap();
        // No --dir anywhere: every subcommand takes the directory from --config.
        let init = ctl(&["--config", c, "audit", "init"]);
        assert_eq!(init.status.code(), Some(0), "{}", all(&init));
        let k0 = String::from_utf8_lossy(&init.stdout)
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let note = ctl(&[
            "--config",
            c,
            "audit",
            "note",
            "--kind",
            "media",
            "--text",
            "USB メモリ返却",
            "--who",
            "山田",
        ]);
        assert_eq!(note.status.code(), Some(0), "{}", all(&note));
        Site {
            dir,
            log,
            config,
            k0,
        }
    }

    fn c(&self) -> &str {
        self.config.to_str().unwrap()
    }

    fn key_file(&self) -> PathBuf {
        let path = self.dir.join("k0.hex");
        std::fs::write(&path, format!("{}\n", self.k0)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// Issue 14 (bug): the report took its business hours and UTC offset from its own defaults
// (08:30-17:15, +09:00) whatever the configuration given with --config said; the review must
// apply the rules the daemon enforces. The options only override.
#[test]
fn the_report_applies_the_business_hours_and_offset_of_the_configuration_given() {
    let site = Site::new(
        "config",
        "[daemon]\nutc_offset_minutes = -300\n\n[business_hours]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\nstart = \"07:45\"\nend = \"16:00\"\n",
    );
    let out = ctl(&["--config", site.c(), "--lang", "en", "audit", "report"]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Business days Mon, Tue, Wed, Thu, Fri, Sat, 07:45–16:00"),
        "{text}"
    );
    assert!(text.contains("(UTC-05:00)"), "{text}");
    assert!(text.contains(" -05:00  "), "the note's time: {text}");
    assert!(text.contains(&site.log.display().to_string()), "{text}");

    // The command line overrides the file.
    let out = ctl(&[
        "--config",
        site.c(),
        "--lang",
        "en",
        "audit",
        "report",
        "--business-hours",
        "09:00-12:00",
        "--business-days",
        "mon-fri",
        "--utc-offset",
        "+09:00",
    ]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Business days Mon, Tue, Wed, Thu, Fri, 09:00–12:00"),
        "{text}"
    );
    assert!(text.contains("(UTC+09:00)"), "{text}");
}

#[test]
fn the_report_speaks_the_users_language_with_office_times() {
    let site = Site::new("lang", "");
    let ja = ctl_env(
        &["--config", site.c(), "audit", "report"],
        "",
        &[("LANG", "ja_JP.UTF-8")],
    );
    let text = all(&ja);
    assert_eq!(ja.status.code(), Some(0), "{text}");
    assert!(text.contains("点検結果報告書"), "{text}");
    assert!(text.contains("媒体管理") && text.contains("山田"), "{text}");
    assert!(text.contains("+09:00"), "{text}");
    assert!(
        !text.contains(".000Z") && !text.contains("Z "),
        "UTC shown: {text}"
    );
    // --lang wins over LANG.
    let en = ctl_env(
        &["--config", site.c(), "--lang", "en", "audit", "report"],
        "",
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert!(all(&en).contains("Audit review"), "{}", all(&en));
    let verify = ctl_env(
        &["--config", site.c(), "audit", "verify"],
        "",
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert_eq!(verify.status.code(), Some(0), "{}", all(&verify));
    assert!(
        all(&verify).starts_with("改ざんなし: 記録 4 件"),
        "{}",
        all(&verify)
    );
}

fn flip_a_byte(log: &Path) {
    let seg = log.join("audit-00000001.jsonl");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes
        .windows(b"USB".len())
        .position(|w| w == b"USB")
        .unwrap();
    bytes[at] = b'X';
    std::fs::write(&seg, bytes).unwrap();
}

#[test]
fn exit_statuses_say_what_happened() {
    let site = Site::new("exits", "");
    let c = site.c();
    let key = site.key_file();
    let key = key.to_str().unwrap();
    // Verified with k(0): 0, and the key's fingerprint is named, never the key.
    let ok = ctl(&["--config", c, "audit", "verify", "--key-file", key]);
    assert_eq!(ok.status.code(), Some(0), "{}", all(&ok));
    assert!(all(&ok).contains("fingerprint"), "{}", all(&ok));
    assert!(!all(&ok).contains(&site.k0));
    let json = ctl(&[
        "--config",
        c,
        "--json",
        "audit",
        "verify",
        "--key-file",
        key,
    ]);
    assert_eq!(json.status.code(), Some(0), "{}", all(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(v["records"], 4);
    assert_eq!(v["key_checked"], true);
    assert_eq!(v["key_fingerprint"].as_str().unwrap().len(), 16);
    // Usage: 2.
    for args in [
        &["audit", "report", "--from", "2026-11-31"][..],
        &[
            "audit",
            "report",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-01",
        ],
        &["audit", "report", "--format", "csv"],
        &["audit", "report", "--utc-offset", "+9"],
        &["audit", "report", "--business-hours", "8:30-17:15"],
    ] {
        let mut full = vec!["--config", c];
        full.extend_from_slice(args);
        let out = ctl(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", all(&out));
    }
    let order = ctl(&[
        "--config",
        c,
        "--lang",
        "ja",
        "audit",
        "report",
        "--from",
        "2026-11-30",
        "--to",
        "2026-11-01",
    ]);
    assert!(all(&order).contains("より後"), "{}", all(&order));
    // Refused: 4 (a log is never overwritten).
    let again = ctl(&["--config", c, "audit", "init"]);
    assert_eq!(again.status.code(), Some(4), "{}", all(&again));
    // Not found: 3.
    let missing = site.dir.join("nope");
    let out = ctl(&[
        "--config",
        c,
        "audit",
        "verify",
        "--dir",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", all(&out));
    assert!(
        all(&out).contains(missing.to_str().unwrap()),
        "{}",
        all(&out)
    );
    // A tampered log: verification failed, 6, for verify and for the report alike.
    flip_a_byte(&site.log);
    let out = ctl(&["--config", c, "audit", "verify", "--key-file", key]);
    assert_eq!(out.status.code(), Some(6), "{}", all(&out));
    let out = ctl(&[
        "--config",
        c,
        "--lang",
        "en",
        "audit",
        "report",
        "--key-file",
        key,
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", all(&out));
    let text = all(&out);
    let top = text.find("NOT INTACT").expect(&text);
    let findings = text.find("Findings").expect(&text);
    assert!(top < findings, "the verification comes first: {text}");
}

#[test]
fn csv_is_one_table_per_file_for_japanese_excel() {
    let site = Site::new("csv", "");
    let out_dir = site.dir.join("csv");
    let out = ctl(&[
        "--config",
        site.c(),
        "--lang",
        "ja",
        "audit",
        "report",
        "--format",
        "csv",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    for name in [
        "findings.csv",
        "operators.csv",
        "terminals.csv",
        "days.csv",
        "notes.csv",
        "verification.csv",
    ] {
        let bytes = std::fs::read(out_dir.join(name)).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{name}: no BOM");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.ends_with("\r\n"), "{name}");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        let columns = lines[0].split("\",\"").count();
        for line in &lines {
            assert!(
                line.starts_with('"') && line.ends_with('"'),
                "{name}: {line}"
            );
            assert!(!line.contains('\n'), "{name}: bare LF in {line:?}");
            assert_eq!(line.split("\",\"").count(), columns, "{name}: {line}");
        }
    }
    let notes = std::fs::read_to_string(out_dir.join("notes.csv")).unwrap();
    assert!(
        notes.contains("\"媒体管理\"") && notes.contains("+09:00"),
        "{notes}"
    );
}

// Issue 12, point 5, as the access manager runs it: the review writes a checkpoint; a log
// replaced by a fresh one before the next review is a critical finding at the top of the
// report, in red in the HTML, and the command exits 6 (verification failed).
#[test]
fn a_log_replaced_between_two_reviews_is_at_the_top_in_red() {
    let site = Site::new("checkpoint", "");
    let c = site.c();
    let checkpoint = site.dir.join("checkpoint-2026-11.json");
    let cp = checkpoint.to_str().unwrap();
    let key = site.key_file();
    let first = ctl(&[
        "--config",
        c,
        "audit",
        "report",
        "--key-file",
        key.to_str().unwrap(),
        "--write-checkpoint",
        cp,
    ]);
    assert_eq!(first.status.code(), Some(0), "{}", all(&first));
    assert!(checkpoint.is_file());
    // Nothing but the review's own lines on stderr: no progress bar without a terminal.
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(cp), "{stderr}");

    // The same log reviewed again extends the checkpoint.
    let again = ctl(&["--config", c, "audit", "report", "--checkpoint", cp]);
    assert_eq!(again.status.code(), Some(0), "{}", all(&again));

    // Replaced: a fresh log where the old one was.
    std::fs::remove_dir_all(&site.log).unwrap();
    let init = ctl(&["--config", c, "audit", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", all(&init));
    let html = site.dir.join("review.html");
    let out = ctl(&[
        "--config",
        c,
        "--lang",
        "ja",
        "audit",
        "report",
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
        "--checkpoint",
        cp,
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", all(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    let alert = page
        .find("<section class=\"alert\" id=\"critical\">")
        .expect(&page);
    let findings = page.find("id=\"findings\"").unwrap();
    assert!(
        alert < findings,
        "the critical finding comes before the others"
    );
    assert!(
        page.contains("前回点検以降のログの置換・切り詰め・巻き戻し"),
        "{page}"
    );
    assert!(page.contains("<tr class=\"critical\" data-kind=\"log_not_extended\">"));
    assert!(page.contains(".alert{border:2px solid #c00000"), "red");

    // A checkpoint file that is not there: not found.
    let missing = ctl(&[
        "--config",
        c,
        "audit",
        "report",
        "--checkpoint",
        site.dir.join("nope.json").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(3), "{}", all(&missing));
}
