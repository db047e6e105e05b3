//! The admin records through the real stack (a private pcscd with vpcd readers, software
//! cards, `cardgated` and `cardgatectl` as their own processes): a member of the admin group
//! who is not root cannot write a `card_issued` or `card_returned` for an operation that never
//! happened; every note names its writer's uid; a PUK the card refuses is recorded, through
//! the daemon and without it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::{OperatorCard, Puk, Verification};
use cardgate_sim::transport::SimTransport;
use cardgate_sim::{CardImage, SoftCard};
use cardgate_tests::fixtures::{INITIAL_PIN, NEW_PIN, PUK, WRONG_PUK};
use cardgate_tests::{Office, PcscLab, SoftCardFile};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Output;

/// `nobody`, whose primary group `nogroup` these offices make the admin group: a member of
/// the admin group who is not root.
const NOBODY: u32 = 65534;

/// An office whose admin group is `nogroup`.
fn office() -> Office {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let text = std::fs::read_to_string(&office.config).unwrap();
    std::fs::write(
        &office.config,
        text.replacen("[daemon]\n", "[daemon]\nadmin_group = \"nogroup\"\n", 1),
    )
    .unwrap();
    office
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

/// One request on the admin socket from another process running as `nobody`.
fn as_nobody(socket: &Path, request: &str) -> Value {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()); print(s.makefile().read())")
        .arg(socket)
        .arg(format!("{request}\n"))
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The events of the log the daemon wrote, as JSON.
fn events(office: &Office) -> Vec<Value> {
    office
        .audit_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

fn of_kind(office: &Office, kind: &str) -> Vec<Value> {
    events(office)
        .into_iter()
        .filter(|r| r["event"]["kind"] == kind)
        .collect()
}

fn issue(office: &Office, reader: &str) -> String {
    let issued = ok(&office
        .ctl_as_manager(
            &[
                "card",
                "issue",
                "--reader",
                reader,
                "--operator",
                "op-0042",
                "--issuer-dir",
                &office.path("issuer"),
            ],
            &format!("{PUK}\n{INITIAL_PIN}\n"),
        )
        .unwrap());
    issued.split_whitespace().nth(2).unwrap().to_owned()
}

fn refused(answer: &Value, serial: &str) {
    assert_eq!(answer["result"], "error", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains(serial) && message.contains("nothing was recorded"),
        "{message}"
    );
}

#[test]
fn admin_group_members_cannot_record_operations_that_never_happened() {
    let office = office();
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let mut card = office.lab.insert_card(0, &blank).unwrap();
    office.manager_reader().unwrap();
    let daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let admin = office.admin_socket();

    // The real issuance is recorded (the daemon sees the card and the register).
    let serial = issue(&office, &reader);
    assert_eq!(of_kind(&office, "card_issued").len(), 1);
    let before = office.audit_lines().len();

    // The card was never returned: a member of the admin group says it was.
    let answer = as_nobody(
        &admin,
        &format!(r#"{{"op":"card_returned","serial":"{serial}"}}"#),
    );
    refused(&answer, &serial);
    // Nor revoked.
    let answer = as_nobody(
        &admin,
        &format!(r#"{{"op":"card_revoked","serial":"{serial}","reason":"lost"}}"#),
    );
    refused(&answer, &serial);
    // A card never issued, "issued" in the reader that holds another card.
    let never = "5EC12E7000000001";
    let answer = as_nobody(
        &admin,
        &format!(
            r#"{{"op":"card_issued","serial":"{never}","operator":"op-0042","role":"operator","reader":"{reader}"}}"#
        ),
    );
    refused(&answer, never);
    // The real card, as it was issued, but claimed without the access manager's card.
    let answer = as_nobody(
        &admin,
        &format!(
            r#"{{"op":"card_issued","serial":"{serial}","operator":"op-0042","role":"operator","reader":"{reader}"}}"#
        ),
    );
    refused(&answer, &serial);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("no access manager's card"),
        "{answer}"
    );
    // The real card, claimed for another operator or role.
    let answer = as_nobody(
        &admin,
        &format!(
            r#"{{"op":"card_issued","serial":"{serial}","operator":"op-0042","role":"manager","reader":"{reader}"}}"#
        ),
    );
    refused(&answer, &serial);
    // An unblock that never happened (the register does not ask for a new PIN).
    let answer = as_nobody(
        &admin,
        &format!(r#"{{"op":"pin_unblocked","serial":"{serial}","reader":"{reader}"}}"#),
    );
    refused(&answer, &serial);
    assert_eq!(
        office.audit_lines().len(),
        before,
        "a refused claim reached the audit log"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("admin record refused") && log.contains(&serial),
        "{log}"
    );

    // The real return is recorded.
    ok(&office
        .ctl(
            &[
                "card",
                "return",
                &serial,
                "--issuer-dir",
                &office.path("issuer"),
                "--yes",
            ],
            "",
        )
        .unwrap());
    assert_eq!(of_kind(&office, "card_returned").len(), 1);
    let before = office.audit_lines().len();
    // What would hide a later use of the returned card from the review: a `card_issued` for
    // it, with the card itself in the reader. Refused: it is no longer lent.
    let answer = as_nobody(
        &admin,
        &format!(
            r#"{{"op":"card_issued","serial":"{serial}","operator":"op-0042","role":"operator","reader":"{reader}"}}"#
        ),
    );
    refused(&answer, &serial);
    assert_eq!(office.audit_lines().len(), before);
    assert_eq!(of_kind(&office, "card_issued").len(), 1);

    // A note from the same member is recorded, and names them.
    let answer = as_nobody(
        &admin,
        r#"{"op":"note","kind":"media","text":"backup tape 7 to the safe"}"#,
    );
    assert_eq!(answer["result"], "info", "{answer}");
    let notes = of_kind(&office, "note");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["event"]["by"], "uid 65534 (nobody)",
        "{}",
        notes[0]
    );
    card.remove().unwrap();
}

#[test]
fn notes_name_their_writer_through_the_daemon_and_without_it() {
    let office = office();
    let note = |text: &str| {
        ok(&office
            .ctl(
                &[
                    "audit",
                    "note",
                    "--dir",
                    &office.path("audit"),
                    "--kind",
                    "room-entry",
                    "--text",
                    text,
                    "--who",
                    "Sato",
                ],
                "",
            )
            .unwrap())
    };
    let mut daemon = office.start_daemon().unwrap();
    assert!(note("through the daemon")
        .to_lowercase()
        .contains("recorded by cardgated"));
    daemon.stop();
    assert!(!note("straight into the log").contains("cardgated"));
    let notes = of_kind(&office, "note");
    assert_eq!(notes.len(), 2);
    for n in &notes {
        assert_eq!(n["event"]["by"], "uid 0 (root)", "{n}");
    }
    // The review lists who wrote each note.
    let report = ok(&office
        .ctl(&["audit", "report", "--dir", &office.path("audit")], "")
        .unwrap());
    let lines: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("server-room entry") && l.contains("uid 0 (root)"))
        .collect();
    assert_eq!(lines.len(), 2, "{report}");
}

/// `image` with its PUK blocked (ten wrong PUKs, in process).
fn puk_blocked(image: CardImage) -> CardImage {
    let mut card = OperatorCard::new(SimTransport::new(SoftCard::in_memory(image)));
    card.select().unwrap();
    let wrong = Puk::parse(WRONG_PUK).unwrap();
    while card.verify_puk(&wrong).unwrap() != Verification::Blocked {}
    card.into_transport().into_card().into_image()
}

#[test]
fn wrong_puks_are_recorded_through_the_daemon_and_without_it() {
    let office = office();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let file =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", NEW_PIN, PUK).unwrap();
    let serial = file.image().certificate().unwrap().body.serial.to_string();
    let mut card = office.lab.insert_card(0, &file).unwrap();
    office.manager_reader().unwrap();
    let unblock = |puk: &str| {
        office
            .ctl_as_manager(
                &["card", "unblock", "--reader", &reader, "--yes"],
                &format!("{puk}\n{INITIAL_PIN}\n"),
            )
            .unwrap()
    };
    let failed = |out: &Output, what: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
    };

    // Through the daemon.
    let mut daemon = office.start_daemon().unwrap();
    failed(&unblock(WRONG_PUK), "wrong PUK, 9 tries left");
    // Without it: straight into the log.
    daemon.stop();
    failed(&unblock(WRONG_PUK), "wrong PUK, 8 tries left");
    let rejected = of_kind(&office, "puk_rejected");
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    for (r, left) in rejected.iter().zip([9, 8]) {
        assert_eq!(r["event"]["tries_left"], left, "{r}");
        assert_eq!(r["event"]["by"], "uid 0 (root)", "{r}");
        assert_eq!(r["card"], serial.as_str(), "{r}");
        assert_eq!(r["reader"], reader.as_str(), "{r}");
        assert_eq!(r["operator"], "op-0042", "{r}");
    }
    card.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    // A card whose PUK is blocked: the attempt is recorded too.
    let blocked =
        SoftCardFile::from_image(&office.lab, "blocked", puk_blocked(file.image().clone()))
            .unwrap();
    let mut card = office.lab.insert_card(0, &blocked).unwrap();
    let _daemon = office.start_daemon().unwrap();
    failed(&unblock(PUK), "PUK is blocked");
    let blocked_records = of_kind(&office, "puk_blocked");
    assert_eq!(blocked_records.len(), 1);
    assert_eq!(blocked_records[0]["card"], serial.as_str());
    card.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    // Issuance with a wrong transport PUK: recorded against the blank card's reader.
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let mut card = office.lab.insert_card(0, &blank).unwrap();
    let out = office
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
            &format!("{WRONG_PUK}\n{INITIAL_PIN}\n"),
        )
        .unwrap();
    failed(&out, "wrong PUK, 9 tries left");
    let rejected = of_kind(&office, "puk_rejected");
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[2]["reader"], reader.as_str());
    assert!(rejected[2].get("card").is_none(), "{}", rejected[2]);
    card.remove().unwrap();

    // The review shows every one of them.
    let report = ok(&office
        .ctl(&["audit", "report", "--dir", &office.path("audit")], "")
        .unwrap());
    assert_eq!(
        report
            .lines()
            .filter(|l| {
                l.contains("wrong PUK") && l.contains("by uid 0 (root)") && l.contains("tries left")
            })
            .count(),
        3,
        "{report}"
    );
    assert_eq!(
        report.matches("to a card whose PUK is blocked").count(),
        1,
        "{report}"
    );
}
