//! `cardgatectl audit collected` as the access manager runs it on the collector: the real
//! binary over a root of terminals' files that the real audit writer wrote, the JSON of the
//! contract, the keys directory, the checkpoint between two runs and the exit statuses.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label, Record, Timestamp};

const START: &str = "2026-11-02T08:30:00.000Z";

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn ctl(args: &[&str], lang: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardgatectl"))
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

/// A terminal's log by the real writer (40 card-use records, sealed every 10), its lines and
/// k(0) in hex.
fn terminal(base: &Path, name: &str) -> (Vec<Vec<u8>>, String) {
    let dir = base.join(format!("{name}-log"));
    let t0 = Timestamp::parse(START).unwrap().to_datetime().unwrap();
    let clock = Arc::new(cardgate_office::ManualClock::new(t0));
    let label = Label::new(name).unwrap();
    let k0 = AuditLog::init(&dir, label.clone(), clock.as_ref()).unwrap();
    let mut c = AuditConfig::new(&dir, label);
    c.seal_every_records = 10;
    c.clock = clock.clone();
    let (log, _) = AuditLog::open(c).unwrap();
    for i in 0..40u64 {
        clock.advance(std::time::Duration::from_secs(60));
        let event = if i % 2 == 0 {
            Event::CardInserted
        } else {
            Event::CardRemoved
        };
        log.append(Entry::new(event).reader(Label::new("reader 0").unwrap()))
            .unwrap();
    }
    log.close().unwrap();
    let mut lines = Vec::new();
    for (_, p) in cardgate_audit::segments::list_segments(&dir).unwrap() {
        for l in std::fs::read(p).unwrap().split(|&b| b == b'\n') {
            if !l.is_empty() {
                lines.push(l.to_vec());
            }
        }
    }
    (lines, k0.to_hex().to_string())
}

fn ship(root: &Path, host: &str, lines: &[Vec<u8>]) {
    let dir = root.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    std::fs::write(dir.join("2026-11.jsonl"), out).unwrap();
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn terminal_json<'a>(v: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["host"] == host)
        .unwrap()
}

#[test]
fn audit_collected_verifies_every_terminal_and_names_the_one_whose_log_changed() {
    let base =
        Dir(std::env::temp_dir().join(format!("cardgatectl-collected-{}", std::process::id())));
    std::fs::create_dir_all(&base.0).unwrap();
    let root = base.0.join("terminals");
    let keys = base.0.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (t1, k1) = terminal(&base.0, "t1");
    let (t2, _) = terminal(&base.0, "t2");
    ship(&root, "t1", &t1);
    // t2's record 7 arrives again, rewritten: the terminal's log no longer matches.
    let mut forged = Record::parse(&t2[7]).unwrap();
    forged.reader = Some(Label::new("reader 9").unwrap());
    let mut t2_shipped = t2.clone();
    t2_shipped.push(forged.to_line());
    ship(&root, "t2", &t2_shipped);
    let key_file = keys.join("t1.k0");
    std::fs::write(&key_file, format!("{k1}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (root_s, keys_s) = (root.to_str().unwrap(), keys.to_str().unwrap());
    let now = "2026-11-02T09:30:00.000Z";
    let args = [
        "audit",
        "collected",
        "--root",
        root_s,
        "--keys",
        keys_s,
        "--now",
        now,
        "--format",
        "json",
    ];

    let out = ctl(&args, "C.UTF-8");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["format"], 1);
    assert_eq!(v["root"], root_s);
    assert_eq!(v["findings"], 1);
    let j1 = terminal_json(&v, "t1");
    assert_eq!(j1["key_checked"], true);
    assert_eq!(j1["lines"], t1.len());
    assert_eq!(j1["records"], t1.len());
    assert_eq!(j1["last_seq"], t1.len() - 1);
    assert_eq!(j1["verified_up_to"], t1.len() - 1);
    assert_eq!(j1["gaps"], serde_json::json!([]));
    assert_eq!(j1["replaced"], false);
    assert_eq!(j1["problem"], serde_json::Value::Null);
    assert_eq!(j1["last_kind"], "log_sealed");
    assert_eq!(j1["silent"], false);
    assert_eq!(j1["findings"], serde_json::json!([]));
    assert_eq!(j1["log_id"].as_str().unwrap().len(), 32);
    let j2 = terminal_json(&v, "t2");
    assert_eq!(j2["key_checked"], false, "no key file: said so");
    assert_eq!(j2["conflicts"], 1);
    assert_eq!(j2["first_conflict"], 7);
    assert_eq!(j2["findings"][0]["kind"], "conflict");
    assert_eq!(j2["findings"][0]["severity"], "critical");
    assert_eq!(j2["findings"][0]["seq"], 7);

    // The table, in both languages, names the terminal and the finding.
    let mut table_args = args.to_vec();
    table_args.truncate(8);
    let en = ctl(&table_args, "C.UTF-8");
    assert_eq!(en.status.code(), Some(6));
    let en = text(&en);
    assert!(
        en.contains("terminal") && en.contains("t2: [CRITICAL]"),
        "{en}"
    );
    assert!(en.contains("t2: no key file"), "{en}");
    let ja = text(&ctl(&table_args, "ja_JP.UTF-8"));
    assert!(ja.contains("端末") && ja.contains("t2: [重大]"), "{ja}");

    // Without t2: exit 0, and a checkpoint for the next run.
    std::fs::remove_dir_all(root.join("t2")).unwrap();
    let cp = base.0.join("cp.json");
    let mut with_cp = args.to_vec();
    with_cp.extend(["--write-checkpoint", cp.to_str().unwrap()]);
    let out = ctl(&with_cp, "C.UTF-8");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Two hours later the terminal is silent.
    let mut later = args.to_vec();
    later[7] = "2026-11-02T11:30:00.000Z";
    let out = ctl(&later, "C.UTF-8");
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(terminal_json(&json(&out), "t1")["silent"], true);

    // The collector's copy cut back between two runs: caught by the checkpoint.
    ship(&root, "t1", &t1[..t1.len() - 5]);
    let mut check = args.to_vec();
    check.extend(["--checkpoint", cp.to_str().unwrap()]);
    let out = ctl(&check, "C.UTF-8");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let j1 = json(&out);
    let j1 = terminal_json(&j1, "t1");
    assert_eq!(j1["findings"][0]["kind"], "not_extended");
    assert_eq!(j1["findings"][0]["severity"], "critical");

    // A key file others may read is refused (4); no root is 3; a bad option 2.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = ctl(&args, "C.UTF-8");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("t1.k0"), "{}", text(&out));
    let nowhere = base.0.join("nowhere");
    let out = ctl(
        &["audit", "collected", "--root", nowhere.to_str().unwrap()],
        "C.UTF-8",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("nowhere"));
    let out = ctl(
        &["audit", "collected", "--root", root_s, "--now", "yesterday"],
        "C.UTF-8",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
