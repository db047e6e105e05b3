//! The whole story through the real stack: a private pcscd with vpcd readers, software cards
//! served into them, `cardgated` as its own process, `cardgatectl` as the access manager
//! uses it, and a stand-in `loginctl` that records what it is asked to do.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_sim::CardImage;
use cardgate_tests::fixtures::{self, INITIAL_PIN, NEW_PIN, PUK};
use cardgate_tests::{openpgp, CardProcess, Office, PcscLab, SoftCardFile, VirtualOpenPgpCard};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn office() -> Office {
    Office::standard(
        PcscLab::start().unwrap(),
        // The card's own three tries are what these tests count; the daemon's back-off has
        // its own tests in process.
        "[rate_limit]\nfree_failures = 3\n",
    )
    .unwrap()
}

fn ctl(office: &Office, args: &[&str], stdin: &str) -> Output {
    office.ctl(args, stdin).unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ask(office: &Office, request: &str) -> Value {
    office.ask(request).unwrap()
}

fn wait_for_call(office: &Office, call: &str) -> std::time::Duration {
    office.wait_for_call(call).unwrap()
}

fn authenticate(office: &Office, pin: &str) -> Value {
    ask(
        office,
        &format!(r#"{{"op":"authenticate","terminal":"juki-01","user":"tanaka","pin":"{pin}"}}"#),
    )
}

/// The card a story runs with: cardgate's own software card (`operator-card-v1`) or the
/// independent OpenPGP card v3.4 (`tools/opcard-virt`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Software,
    OpenPgp,
}

/// A blank card of one kind, kept across its removal so that the same card goes back in.
enum Blank {
    Software(Box<SoftCardFile>),
    OpenPgp(VirtualOpenPgpCard),
}

impl Blank {
    fn new(office: &Office, kind: Kind) -> Blank {
        match kind {
            Kind::Software => Blank::Software(Box::new(
                SoftCardFile::blank(&office.lab, "blank", PUK).unwrap(),
            )),
            Kind::OpenPgp => {
                Blank::OpenPgp(VirtualOpenPgpCard::factory_fresh(&office.lab, "blank").unwrap())
            }
        }
    }

    fn insert(&self, office: &Office) -> CardProcess {
        match self {
            Blank::Software(file) => office.lab.insert_card(0, file).unwrap(),
            Blank::OpenPgp(card) => office.lab.insert_openpgp_card(0, card).unwrap(),
        }
    }

    /// The same card back in the reader, as issued (the software card's image copied, as
    /// its file is the card; the OpenPGP card's state directory as it is).
    fn reinsert(&self, office: &Office) -> CardProcess {
        match self {
            Blank::Software(file) => {
                let issued = SoftCardFile::from_image(
                    &office.lab,
                    "issued",
                    CardImage::load(file.path()).unwrap(),
                )
                .unwrap();
                office.lab.insert_card(0, &issued).unwrap()
            }
            Blank::OpenPgp(card) => office.lab.insert_openpgp_card(0, card).unwrap(),
        }
    }

    /// What `card issue` reads after the manager's PIN: the transport PUK and the initial
    /// PIN; an OpenPGP card's factory admin PIN and its new one first.
    fn issue_secrets(&self) -> String {
        match self {
            Blank::Software(_) => format!("{PUK}\n{INITIAL_PIN}\n"),
            Blank::OpenPgp(_) => format!(
                "{}\n{}\n{PUK}\n{INITIAL_PIN}\n",
                openpgp::FACTORY_PW3,
                fixtures::ADMIN_PIN
            ),
        }
    }
}

#[test]
fn issue_login_change_pin_remove_lock_reinsert_unlock_revoke_end() {
    story(Kind::Software);
}

#[test]
fn openpgp_issue_login_change_pin_remove_lock_reinsert_unlock_revoke_end() {
    story(Kind::OpenPgp);
}

fn story(kind: Kind) {
    let office = office();
    let blank = Blank::new(&office, kind);
    let mut card = blank.insert(&office);
    let mut daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();

    // 1. The access manager issues the blank card, through pcscd.
    let issued = ok(&office
        .ctl_as_manager(
            &[
                "card",
                "issue",
                "--reader",
                &reader,
                "--operator",
                "op-0042",
                "--issuer-dir",
                office.dir.join("issuer").to_str().unwrap(),
            ],
            &blank.issue_secrets(),
        )
        .unwrap());
    let serial = issued.split_whitespace().nth(2).unwrap().to_owned();
    assert_eq!(serial.len(), 16, "{issued}");
    assert!(ok(&ctl(&office, &["card", "list"], "")).contains("lent (initial PIN)"));

    // 2. The operator logs in, must change the initial PIN, and does.
    let a = authenticate(&office, INITIAL_PIN);
    assert_eq!(
        (a["result"].as_str(), a["must_change_pin"].as_bool()),
        (Some("granted"), Some(true)),
        "{a}"
    );
    let open = ask(
        &office,
        r#"{"op":"open_session","terminal":"juki-01","user":"tanaka","session_id":"c1"}"#,
    );
    assert_eq!(open["reason"], "must_change_pin", "{open}");
    let weak = ask(
        &office,
        &format!(
            r#"{{"op":"change_pin","terminal":"juki-01","user":"tanaka","old":"{INITIAL_PIN}","new":"abc123"}}"#
        ),
    );
    assert_eq!(weak["reason"], "pin_policy", "{weak}");
    let changed = ask(
        &office,
        &format!(
            r#"{{"op":"change_pin","terminal":"juki-01","user":"tanaka","old":"{INITIAL_PIN}","new":"{NEW_PIN}"}}"#
        ),
    );
    assert_eq!(changed["result"], "granted", "{changed}");
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["result"], "granted", "{a}");
    let open = ask(
        &office,
        r#"{"op":"open_session","terminal":"juki-01","user":"tanaka","session_id":"c1"}"#,
    );
    assert_eq!(open["result"], "granted", "{open}");

    // 3. The card is pulled: the session locks.
    card.remove().unwrap();
    let took = wait_for_call(&office, "lock-session c1");
    eprintln!("removal to lock-session: {took:?} (from SIGTERM of the card process)");

    // 4. Re-inserted, with the PIN: the session unlocks.
    let mut card = blank.reinsert(&office);
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["result"], "granted", "{a}");
    wait_for_call(&office, "unlock-session c1");

    // 5. Revoked: the session ends, and the next login is refused before the PIN.
    ok(&ctl(
        &office,
        &[
            "card",
            "revoke",
            &serial,
            "--reason",
            "lost",
            "--issuer-dir",
            office.dir.join("issuer").to_str().unwrap(),
            "--yes",
        ],
        "",
    ));
    wait_for_call(&office, "terminate-session c1");
    let probe = ask(
        &office,
        r#"{"op":"probe","terminal":"juki-01","user":"tanaka"}"#,
    );
    assert_eq!(probe["reason"], "revoked", "{probe}");
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["reason"], "revoked", "{a}");

    // A hand-written record (art. 3) while the daemon holds the log goes through the daemon.
    let note = ok(&ctl(
        &office,
        &[
            "audit",
            "note",
            "--dir",
            office.dir.join("audit").to_str().unwrap(),
            "--kind",
            "room-entry",
            "--text",
            "replaced the terminal's keyboard",
            "--who",
            "Sato",
            "--escort",
            "Tanaka",
        ],
        "",
    ));
    assert!(
        note.to_lowercase().contains("recorded by cardgated"),
        "{note}"
    );

    // The daemon opened no network socket at all (art. 15, 17).
    assert_no_inet_sockets(daemon.pid().unwrap());

    card.remove().unwrap();
    daemon.stop();
    // The record of all this verifies with the key printed at init.
    let verify = ctl(
        &office,
        &[
            "audit",
            "verify",
            "--dir",
            office.dir.join("audit").to_str().unwrap(),
            "--key",
            "-",
        ],
        &format!("{}\n", office.audit_key_hex),
    );
    ok(&verify);
    let report = ok(&ctl(
        &office,
        &[
            "audit",
            "report",
            "--dir",
            office.dir.join("audit").to_str().unwrap(),
            "--format",
            "json",
        ],
        "",
    ));
    assert!(report.contains("op-0042"), "{report}");
    let log = office.audit_lines().join("\n");
    for kind in [
        "card_issued",
        "pin_changed",
        "session_locked",
        "session_unlocked",
        "card_revoked",
        "session_ended",
        "revoked_card_presented",
        "note",
    ] {
        assert!(log.contains(&format!("\"{kind}\"")), "no {kind} record");
    }
    for secret in [PUK, INITIAL_PIN, NEW_PIN, fixtures::ADMIN_PIN] {
        assert!(!log.contains(secret), "a secret reached the audit log");
    }
}

#[test]
fn refusals_through_the_real_stack() {
    refusals(Kind::Software);
}

#[test]
fn openpgp_refusals_through_the_real_stack() {
    refusals(Kind::OpenPgp);
}

/// A card of `kind` for `operator` with PIN `pin` in slot 0: the software card personalised
/// in place, the OpenPGP card issued with `cardgatectl card issue` (`pin` as its initial PIN).
fn card_for(office: &Office, kind: Kind, name: &str, operator: &str, pin: &str) -> CardProcess {
    match kind {
        Kind::Software => {
            let file = SoftCardFile::personalised(&office.lab, &office.issuer, operator, pin, PUK)
                .unwrap();
            office.lab.insert_card(0, &file).unwrap()
        }
        Kind::OpenPgp => {
            let card = VirtualOpenPgpCard::factory_fresh(&office.lab, name).unwrap();
            let inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
            let reader = office.lab.reader(0).unwrap().to_owned();
            office
                .issue_openpgp_card(&reader, operator, PUK, pin)
                .unwrap();
            inserted
        }
    }
}

fn refusals(kind: Kind) {
    let office = office();
    let _daemon = office.start_daemon().unwrap();
    // Another operator's card for this user (art. 5.3).
    let mut c = card_for(&office, kind, "other", "op-9999", NEW_PIN);
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["reason"], "wrong_user", "{a}");
    c.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    // A locked-out card: a clear message.
    let mut c = card_for(&office, kind, "mine", "op-0042", NEW_PIN);
    for left in [2, 1, 0] {
        let a = authenticate(&office, "Wrong9999");
        assert_eq!(a["tries_left"], left, "{a}");
    }
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["reason"], "pin_blocked", "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("access manager"),
        "{a}"
    );
    c.remove().unwrap();

    // No card at all.
    office.lab.wait_for_no_card(0).unwrap();
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["reason"], "no_card", "{a}");
}

fn assert_no_inet_sockets(pid: u32) {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.to_string_lossy().into_owned();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                inodes.push(inode.to_owned());
            }
        }
    }
    assert!(
        !inodes.is_empty(),
        "the daemon should at least hold its Unix sockets"
    );
    for table in ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"] {
        let text = std::fs::read_to_string(Path::new(&format!("/proc/{pid}/net/{table}")))
            .unwrap_or_default();
        for line in text.lines().skip(1) {
            let inode = line.split_whitespace().nth(9).unwrap_or_default();
            assert!(
                !inodes.iter().any(|i| i == inode),
                "cardgated holds an inet socket: {table} {line}"
            );
        }
    }
}

#[test]
fn return_then_backup_and_restore_every_piece_of_state() {
    let office = office();
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let mut card = office.lab.insert_card(0, &blank).unwrap();
    let mut daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let issued = ok(&office
        .ctl_as_manager(
            &[
                "card",
                "issue",
                "--reader",
                &reader,
                "--operator",
                "op-0042",
                "--issuer-dir",
                &office.path("issuer"),
            ],
            &format!("{PUK}\n{INITIAL_PIN}\n"),
        )
        .unwrap());
    let serial = issued.split_whitespace().nth(2).unwrap().to_owned();

    // Art. 5.2: the card comes back; it stops working at once.
    ok(&ctl(
        &office,
        &[
            "card",
            "return",
            &serial,
            "--issuer-dir",
            &office.path("issuer"),
            "--yes",
        ],
        "",
    ));
    let list = ok(&ctl(&office, &["card", "list"], ""));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&serial) && l.ends_with("returned")),
        "{list}"
    );
    let a = authenticate(&office, INITIAL_PIN);
    assert!(a["message"].as_str().unwrap().contains("returned"), "{a}");

    // Art. 8: back up everything, lose it, restore it.
    let backups = office.dir.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let made = ok(&ctl(
        &office,
        &[
            "backup",
            "--to",
            backups.to_str().unwrap(),
            "--issuer-dir",
            &office.path("issuer"),
        ],
        "",
    ));
    let backup = made.trim().to_owned();
    assert!(
        !ctl(&office, &["--yes", "restore", "--from", &backup], "")
            .status
            .success(),
        "restore ran under a live daemon"
    );
    daemon.stop();
    card.remove().unwrap();
    std::fs::remove_file(office.dir.join("state/cards.json")).unwrap();
    std::fs::remove_dir_all(office.dir.join("audit")).unwrap();
    std::fs::remove_file(office.dir.join("state/revoked.crl")).unwrap();
    // A damaged backup is refused whole.
    let manifest = Path::new(&backup).join("MANIFEST.sha256");
    let first = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .nth(1)
        .unwrap()
        .to_owned();
    let victim = Path::new(&backup).join(&first);
    let original = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, b"tampered").unwrap();
    assert!(!ctl(&office, &["--yes", "restore", "--from", &backup], "")
        .status
        .success());
    assert!(
        !office.dir.join("state/cards.json").exists(),
        "a partial restore happened"
    );
    std::fs::write(&victim, original).unwrap();
    // The audit directory is gone too: it comes back only on request, checked with k(0).
    ok(&ctl(
        &office,
        &[
            "--yes", "restore", "--from", &backup, "--audit", "--key", "-",
        ],
        &format!("{}\n", office.audit_key_hex),
    ));
    let list = ok(&ctl(&office, &["card", "list"], ""));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&serial) && l.ends_with("returned")),
        "{list}"
    );
    ok(&ctl(
        &office,
        &[
            "audit",
            "verify",
            "--dir",
            &office.path("audit"),
            "--key",
            "-",
        ],
        &format!("{}\n", office.audit_key_hex),
    ));
    // The restored daemon starts and still refuses the returned card.
    let _daemon = office.start_daemon().unwrap();
    let _card = office.lab.insert_card(0, &blank).unwrap();
    let a = authenticate(&office, INITIAL_PIN);
    assert_ne!(a["result"], "granted", "{a}");
}
