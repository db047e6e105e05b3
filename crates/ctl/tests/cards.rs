//! `cardgatectl card …`, `pin …` and `readers` as the binary runs, for what needs no reader:
//! the safety rails (unknown serials, bounds, the issuer medium, confirmation), exit statuses,
//! the Japanese text under `LANG=ja_JP.UTF-8`, and `--json`. The reader side runs through
//! the real stack in `tests/tests/ctl_cards.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KNOWN: &str = "0102030405060708";
const UNKNOWN: &str = "00000000DEADBEEF";

/// Runs the binary with no controlling terminal (`setsid`), so that a confirmation can only
/// come from `--yes`, and in the language `lang` (the locale variables cleared first).
fn run(args: &[&str], lang: &str, stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("setsid");
    cmd.arg("-w")
        .arg(env!("CARGO_BIN_EXE_cardgatectl"))
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // A command that fails before reading closes the pipe; its status tells.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An office's files without a daemon: configuration, issuer key, audit log, an empty
/// revocation list, and a register that lends card [`KNOWN`] to op-0042.
struct Office {
    dir: PathBuf,
    config: String,
}

impl Office {
    fn new(name: &str) -> Office {
        let dir =
            std::env::temp_dir().join(format!("cardgatectl-cards-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::create_dir_all(dir.join("audit")).unwrap();
        let d = dir.display();
        let config = dir.join("cardgated.toml");
        std::fs::write(
            &config,
            format!(
                "[daemon]\nlogin_socket = \"{d}/login.sock\"\nadmin_socket = \"{d}/admin.sock\"\n\
                 state_dir = \"{d}/state\"\n[issuer]\npublic_key = \"{d}/issuer/issuer.pub\"\n\
                 [revocation]\nlist = \"{d}/state/revoked.crl\"\n[audit]\ndir = \"{d}/audit\"\n\
                 [[terminal]]\nid = \"juki-01\"\nreader = \"none\"\n"
            ),
        )
        .unwrap();
        let office = Office {
            config: config.to_string_lossy().into_owned(),
            dir,
        };
        office.ok(&["issuer", "init", "--dir", &office.path("issuer")]);
        office.ok(&["audit", "init", "--dir", &office.path("audit")]);
        office.ok(&[
            "revocation",
            "refresh",
            "--issuer-dir",
            &office.path("issuer"),
            "--list",
            &office.path("state/revoked.crl"),
        ]);
        std::fs::write(
            office.dir.join("state/cards.json"),
            format!(
                "{{\"cards\":{{\"{KNOWN}\":{{\"operator_id\":\"op-0042\",\"role\":\"operator\",\
                 \"lent_at\":1790000000,\"valid_until\":\"2027-12-31\",\
                 \"must_change_pin\":false,\"state\":\"lent\"}}}}}}"
            ),
        )
        .unwrap();
        office
    }

    fn path(&self, p: &str) -> String {
        self.dir.join(p).to_string_lossy().into_owned()
    }

    fn ctl_in(&self, lang: &str, args: &[&str]) -> Output {
        let mut full = vec!["--config", &self.config];
        full.extend(args);
        run(&full, lang, "", &[])
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_in("C.UTF-8", args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// The files a refused step must leave alone.
    fn snapshot(&self) -> (Vec<u8>, Vec<u8>, usize) {
        (
            std::fs::read(self.dir.join("state/revoked.crl")).unwrap(),
            std::fs::read(self.dir.join("state/cards.json")).unwrap(),
            self.audit().len(),
        )
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(self.dir.join("audit"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl" || e == "log"))
            .collect();
        files.sort();
        for f in files {
            for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
                if let Ok(v) = serde_json::from_str(line) {
                    out.push(v);
                }
            }
        }
        out
    }

    fn kinds(&self, kind: &str) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["event"]["kind"] == kind)
            .collect()
    }

    fn list_version(&self) -> u64 {
        let public = cardgate_card::IssuerPublicKey::from_hex(
            &std::fs::read_to_string(self.dir.join("issuer/issuer.pub")).unwrap(),
        )
        .unwrap();
        cardgate_card::RevocationList::verify(
            &std::fs::read(self.dir.join("state/revoked.crl")).unwrap(),
            &public,
        )
        .unwrap()
        .version()
    }

    fn revoke(&self, serial: &str, extra: &[&str]) -> Output {
        let issuer = self.path("issuer");
        let mut args = vec![
            "card",
            "revoke",
            serial,
            "--reason",
            "lost",
            "--issuer-dir",
            &issuer,
        ];
        args.extend(extra);
        self.ctl(&args)
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn an_unknown_serial_is_refused_with_exit_3_and_nothing_is_written() {
    let office = Office::new("unknown");
    assert!(
        !office.audit().is_empty(),
        "the audit log of the fixture is not where this test reads it"
    );
    let before = office.snapshot();
    for out in [
        office.revoke(UNKNOWN, &["--yes"]),
        office.ctl(&[
            "card",
            "return",
            UNKNOWN,
            "--issuer-dir",
            &office.path("issuer"),
            "--yes",
        ]),
    ] {
        assert_eq!(code(&out), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(UNKNOWN), "{err}");
        assert!(err.contains("cards.json"), "{err}");
        assert!(err.contains("--not-in-register"), "{err}");
    }
    assert_eq!(
        office.snapshot(),
        before,
        "a refused step changed something"
    );
    assert_eq!(office.list_version(), 1);
}

#[test]
fn a_bad_serial_is_a_usage_error_that_names_the_input() {
    let office = Office::new("badserial");
    let out = office.revoke("00000000DEADBEE", &["--yes"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("00000000DEADBEE is not a card serial"));
}

#[test]
fn revoke_asks_and_without_a_terminal_or_yes_refuses_with_exit_4() {
    let office = Office::new("confirm");
    let before = office.snapshot();
    let out = office.revoke(KNOWN, &[]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    // The plan is shown: the card, its holder, what it means.
    assert!(err.contains(KNOWN) && err.contains("op-0042"), "{err}");
    assert!(err.contains("cannot be undone"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(office.snapshot(), before);
    let issuer = office.path("issuer");
    let ret = office.ctl(&["card", "return", KNOWN, "--issuer-dir", &issuer]);
    assert_eq!(code(&ret), Some(4), "{}", stderr(&ret));
    assert!(stderr(&ret).contains("taken back"), "{}", stderr(&ret));
    assert_eq!(office.snapshot(), before);
}

#[test]
fn an_overlong_reader_name_is_a_usage_error() {
    let long = "r".repeat(300);
    let out = run(&["card", "inspect", "--reader", &long], "C.UTF-8", "", &[]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 to 256 bytes"), "{}", stderr(&out));
}

#[test]
fn revoke_with_yes_revokes_records_and_then_says_already_revoked() {
    let office = Office::new("revoke");
    let out = office.revoke(KNOWN, &["--yes"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("revocation list version 2"));
    assert_eq!(office.list_version(), 2);
    let revoked = office.kinds("card_revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["card"], KNOWN);
    assert!(office.kinds("note").is_empty(), "no override was asked for");

    let before = office.snapshot();
    let again = office.revoke(KNOWN, &["--yes"]);
    assert_eq!(code(&again), Some(4), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already revoked"),
        "{}",
        stderr(&again)
    );
    let ret = office.ctl(&[
        "card",
        "return",
        KNOWN,
        "--issuer-dir",
        &office.path("issuer"),
        "--yes",
    ]);
    assert_eq!(code(&ret), Some(4));
    assert!(stderr(&ret).contains("already revoked"), "{}", stderr(&ret));
    assert_eq!(office.snapshot(), before);
}

#[test]
fn return_of_a_returned_card_says_so() {
    let office = Office::new("return");
    let issuer = office.path("issuer");
    let args = ["card", "return", KNOWN, "--issuer-dir", &issuer, "--yes"];
    let out = office.ctl(&args);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(office.kinds("card_returned").len(), 1);
    let before = office.snapshot();
    let again = office.ctl(&args);
    assert_eq!(code(&again), Some(4));
    assert!(
        stderr(&again).contains("already returned"),
        "{}",
        stderr(&again)
    );
    assert_eq!(office.snapshot(), before);
}

#[test]
fn the_not_in_register_override_is_recorded_before_the_revocation() {
    let office = Office::new("override");
    let out = office.revoke(UNKNOWN, &["--not-in-register", "--yes"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOT in this card register"));
    assert_eq!(office.list_version(), 2);
    let records = office.audit();
    let note = records
        .iter()
        .position(|r| r["event"]["kind"] == "note")
        .expect("no override note");
    let revoked = records
        .iter()
        .position(|r| r["event"]["kind"] == "card_revoked")
        .expect("no card_revoked");
    assert!(note < revoked, "the override was recorded after the step");
    let text = records[note]["event"]["text"].as_str().unwrap();
    assert!(
        text.contains("--not-in-register") && text.contains(UNKNOWN),
        "{text}"
    );
    assert_eq!(records[note]["card"], UNKNOWN);
    // The list names it now: a second override is refused, and says why.
    let again = office.revoke(UNKNOWN, &["--not-in-register", "--yes"]);
    assert_eq!(code(&again), Some(4));
    assert!(stderr(&again).contains("already on the revocation list"));
}

#[test]
fn a_missing_issuer_medium_names_the_path_and_says_to_mount_it() {
    let office = Office::new("issuer");
    let before = office.snapshot();
    let missing = office.path("usb/issuer");
    let out = office.ctl(&[
        "card",
        "revoke",
        KNOWN,
        "--reason",
        "lost",
        "--issuer-dir",
        &missing,
        "--yes",
    ]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(&missing), "{}", stderr(&out));
    assert!(stderr(&out).contains("mount the issuer medium"));
    // A directory without issuer.key: the key's path is named.
    std::fs::create_dir_all(&missing).unwrap();
    let out = office.ctl(&[
        "card",
        "revoke",
        KNOWN,
        "--reason",
        "lost",
        "--issuer-dir",
        &missing,
        "--yes",
    ]);
    assert_eq!(code(&out), Some(3));
    assert!(stderr(&out).contains(&format!("{missing}/issuer.key")));
    assert_eq!(office.snapshot(), before);
    // No default: the directory must be named.
    for args in [
        &["card", "revoke", KNOWN, "--reason", "lost", "--yes"][..],
        &["card", "return", KNOWN, "--yes"][..],
        &["card", "issue", "--reader", "r", "--operator", "op-1"][..],
    ] {
        let out = office.ctl(args);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--issuer-dir"), "{}", stderr(&out));
    }
}

#[test]
fn issue_bounds_are_checked_before_anything_is_asked() {
    let office = Office::new("bounds");
    let issuer = office.path("issuer");
    let today = time::OffsetDateTime::now_utc().date();
    let far = today.replace_year(today.year() + 6).unwrap().to_string();
    let past = today
        .previous_day()
        .unwrap()
        .previous_day()
        .unwrap()
        .to_string();
    for (valid_until, expect) in [
        (far.as_str(), "years ahead"),
        (past.as_str(), "in the past"),
        ("2027-13-01", "YYYY-MM-DD"),
        ("tomorrow", "YYYY-MM-DD"),
    ] {
        let out = office.ctl(&[
            "card",
            "issue",
            "--reader",
            "r",
            "--operator",
            "op-1",
            "--valid-until",
            valid_until,
            "--issuer-dir",
            &issuer,
        ]);
        assert_eq!(code(&out), Some(2), "{valid_until}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expect),
            "{valid_until}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(valid_until));
    }
    let long = "x".repeat(33);
    for (flag, value, expect) in [
        ("--operator", long.as_str(), "1 to 32 bytes"),
        ("--role", "boss", "operator or manager"),
    ] {
        let mut args = vec!["card", "issue", "--reader", "r", "--issuer-dir", &issuer];
        if flag != "--operator" {
            args.extend(["--operator", "op-1"]);
        }
        args.extend([flag, value]);
        let out = office.ctl(&args);
        assert_eq!(code(&out), Some(2), "{flag}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{flag}: {}", stderr(&out));
    }
}

#[test]
fn japanese_under_lang_ja() {
    let office = Office::new("ja");
    let out = office.ctl_in(
        "ja_JP.UTF-8",
        &[
            "card",
            "revoke",
            UNKNOWN,
            "--reason",
            "lost",
            "--issuer-dir",
            &office.path("issuer"),
        ],
    );
    assert_eq!(code(&out), Some(3));
    let err = stderr(&out);
    assert!(err.contains("カード管理台帳"), "{err}");
    assert!(err.contains("登録されていません"), "{err}");
    let plan = office.ctl_in(
        "ja_JP.UTF-8",
        &[
            "card",
            "revoke",
            KNOWN,
            "--reason",
            "lost",
            "--issuer-dir",
            &office.path("issuer"),
        ],
    );
    assert_eq!(code(&plan), Some(4));
    assert!(
        stderr(&plan).contains("取り消せません"),
        "{}",
        stderr(&plan)
    );
    let list = office.ctl_in("ja_JP.UTF-8", &["card", "list"]);
    let text = stdout(&list);
    assert!(
        text.contains("シリアル番号") && text.contains("貸与中"),
        "{text}"
    );
    // The columns line up by display width: the serial starts every row at column 0 and the
    // operator column starts at the same display column in the header and the row.
    let lines: Vec<&str> = text.lines().collect();
    let col =
        |line: &str, needle: &str| cardgate_i18n::table::width(&line[..line.find(needle).unwrap()]);
    assert_eq!(col(lines[0], "操作者"), col(lines[1], "op-0042"), "{text}");
    let pin = run(&["pin", "check"], "ja_JP.UTF-8", "abc\n", &[]);
    assert_eq!(code(&pin), Some(1));
    assert!(stderr(&pin).contains("6文字以上"), "{}", stderr(&pin));
    // --lang overrides LANG.
    let en = run(
        &["--lang", "en", "pin", "check"],
        "ja_JP.UTF-8",
        "abc\n",
        &[],
    );
    assert!(stderr(&en).contains("at least 6"), "{}", stderr(&en));
}

#[test]
fn card_list_json_has_the_documented_shape() {
    let office = Office::new("json");
    let out = office.revoke(KNOWN, &["--yes", "--json"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let done: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(done["serial"], KNOWN);
    assert_eq!(done["state"], "revoked");
    assert_eq!(done["revocation_list_version"], 2);
    let out = office.ctl(&["--json", "card", "list"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let card = &v["cards"][0];
    let serial = card["serial"].as_str().unwrap();
    assert_eq!(serial.len(), 16);
    assert!(serial
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    assert_eq!(card["operator"], "op-0042");
    assert_eq!(card["role"], "operator");
    assert_eq!(card["state"], "revoked");
    assert_eq!(card["reason"], "lost");
    assert_eq!(card["lent_at"], "2026-09-21T14:13:20Z");
    let revoked = card["revoked_at"].as_str().unwrap();
    assert!(revoked.ends_with('Z'), "{revoked}");
    time::OffsetDateTime::parse(revoked, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(card["returned_at"].is_null());
}

#[test]
fn readers_without_pcscd_name_pcscd() {
    let dir = std::env::temp_dir().join(format!("cardgatectl-nopcscd-{}", std::process::id()));
    let socket = Path::new(&dir).join("pcscd.comm");
    for args in [&["readers"][..], &["card", "inspect", "--reader", "r"][..]] {
        let out = run(
            args,
            "C.UTF-8",
            "",
            &[("PCSCLITE_CSOCK_NAME", socket.to_str().unwrap())],
        );
        assert_eq!(code(&out), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("pcscd is not running"),
            "{}",
            stderr(&out)
        );
    }
}
