//! `cardgatectl audit report --collected` as the access manager runs it on the collector: the
//! real binary over a root of terminals' files the real audit writer wrote, with the keys
//! directory: the review across terminals (one operator on two terminals at once), the
//! terminals' own findings at the top, in Japanese and English, and the exit statuses.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use cardgate_audit::record::EndReason;
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label, Timestamp};
use cardgate_card::{CardSerial, Role};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn ctl(args: &[&str], lang: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
        .args(["--config", "/nonexistent/cardgated.toml"])
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Operator `op` logs in with card `card` at `from` minutes after 09:00 JST on Monday
/// 2026-11-02 and out at `to`, on the terminal `name`, by the real writer; the log is shipped
/// to `<root>/<name>/2026-11.jsonl` as the collector holds it (lines `drop` left out); k(0)
/// goes to `<keys>/<name>.k0`.
fn terminal(base: &Path, name: &str, card: u64, op: &str, from: u64, to: u64, drop: &[usize]) {
    let dir = base.join("logs").join(name);
    std::fs::remove_dir_all(&dir).ok();
    let t0 = Timestamp::parse("2026-11-02T00:00:00.000Z")
        .unwrap()
        .to_datetime()
        .unwrap();
    let clock = Arc::new(cardgate_office::ManualClock::new(t0));
    let label = Label::new(name).unwrap();
    let k0 = AuditLog::init(&dir, label.clone(), clock.as_ref()).unwrap();
    let mut c = AuditConfig::new(&dir, label);
    c.seal_every_records = 3;
    c.clock = clock.clone();
    let (log, _) = AuditLog::open(c).unwrap();
    let who = |e: Entry| {
        e.card(CardSerial(card.to_be_bytes()))
            .operator(Label::new(op).unwrap())
            .reader(Label::new("reader 0").unwrap())
    };
    clock.advance(std::time::Duration::from_secs(from * 60));
    log.append(who(Entry::new(Event::LoginGranted {
        role: Role::Operator,
    })))
    .unwrap();
    clock.advance(std::time::Duration::from_secs((to - from) * 60));
    log.append(who(Entry::new(Event::SessionEnded {
        reason: EndReason::Logout,
        session_type: None,
        logind_state: None,
    })))
    .unwrap();
    log.close().unwrap();
    let mut out = Vec::new();
    let mut n = 0;
    for (_, p) in cardgate_audit::segments::list_segments(&dir).unwrap() {
        for l in std::fs::read(p).unwrap().split(|&b| b == b'\n') {
            if !l.is_empty() {
                if !drop.contains(&n) {
                    out.extend_from_slice(l);
                    out.push(b'\n');
                }
                n += 1;
            }
        }
    }
    let shipped = base.join("terminals").join(name);
    std::fs::create_dir_all(&shipped).unwrap();
    std::fs::write(shipped.join("2026-11.jsonl"), out).unwrap();
    let keys = base.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key_file = keys.join(format!("{name}.k0"));
    std::fs::write(&key_file, format!("{}\n", k0.to_hex().as_str())).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn audit_report_collected_reviews_every_terminal_at_once() {
    let base = Dir(std::env::temp_dir().join(format!(
        "cardgatectl-report-collected-{}",
        std::process::id()
    )));
    std::fs::create_dir_all(&base.0).unwrap();
    // Yamada on juki-01 from 10:00 to 11:00 and on juki-02 from 10:30 to 10:45.
    terminal(&base.0, "juki-01", 1, "op-yamada", 60, 120, &[]);
    terminal(&base.0, "juki-02", 2, "op-yamada", 90, 105, &[]);
    let root = base.0.join("terminals");
    let keys = base.0.join("keys");
    let (root_s, keys_s) = (root.to_str().unwrap(), keys.to_str().unwrap());
    let now = ["--to", "2026-11-30"];
    let o = ctl(
        &[
            &[
                "audit",
                "report",
                "--collected",
                root_s,
                "--keys",
                keys_s,
                "--format",
                "json",
            ][..],
            &now[..],
        ]
        .concat(),
        "C",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verification"], "intact", "{v:#}");
    assert_eq!(v["logs"].as_array().unwrap().len(), 2);
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"operator_on_two_terminals"), "{kinds:?}");

    // juki-02's record 1 never arrives, and juki-01's key is readable by everyone.
    terminal(&base.0, "juki-02", 2, "op-yamada", 90, 105, &[1]);
    let o = ctl(
        &[
            "audit",
            "report",
            "--collected",
            root_s,
            "--keys",
            keys_s,
            "--lang",
            "en",
        ],
        "C",
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(out.contains("records missing from the sequence"), "{out}");
    let o = ctl(
        &[
            "audit",
            "report",
            "--collected",
            root_s,
            "--keys",
            keys_s,
            "--lang",
            "ja",
        ],
        "C",
    );
    assert!(text(&o).contains("記録番号の欠落"), "{}", text(&o));
    std::fs::set_permissions(
        keys.join("juki-01.k0"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let o = ctl(
        &["audit", "report", "--collected", root_s, "--keys", keys_s],
        "C",
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    // No such root: 3.
    let missing = base.0.join("nothing");
    let o = ctl(
        &["audit", "report", "--collected", missing.to_str().unwrap()],
        "C",
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

/// `cardgatectl` under `ulimit -S -n soft` (and `-H hard` when given).
fn ctl_limited(args: &[&str], soft: u32, hard: Option<u32>) -> Output {
    let limits = match hard {
        // The soft limit first: a hard limit below the soft one is refused.
        Some(h) => format!("ulimit -S -n {soft} && ulimit -H -n {h}"),
        None => format!("ulimit -S -n {soft}"),
    };
    Command::new("sh")
        .arg("-c")
        .arg(format!("{limits} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_cardgatectl"))
        .args(["--config", "/nonexistent/cardgated.toml", "--lang", "en"])
        .args(args)
        .output()
        .unwrap()
}

// A file of every log is open at once: with 100 terminals under a soft limit of 64 open
// files the review raises it to the hard limit and runs; when the hard limit is too low as
// well, it fails naming both.
#[test]
fn audit_report_raises_its_limit_of_open_files_or_names_it() {
    let base =
        Dir(std::env::temp_dir().join(format!("cardgatectl-report-nofile-{}", std::process::id())));
    std::fs::create_dir_all(&base.0).unwrap();
    for i in 0..100 {
        terminal(
            &base.0,
            &format!("t{i:03}"),
            i,
            &format!("op-{i}"),
            60,
            120,
            &[],
        );
    }
    let root = base.0.join("terminals");
    let root_s = root.to_str().unwrap();
    let args = ["audit", "report", "--collected", root_s, "--format", "json"];
    let o = ctl_limited(&args, 64, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["logs"].as_array().unwrap().len(), 100);
    let o = ctl_limited(&args, 64, Some(100));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("RLIMIT_NOFILE allows 64 (hard limit 100)") && out.contains("ulimit -n 164"),
        "{out}"
    );
}
