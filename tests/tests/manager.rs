//! Issuance and unblocking need the access manager's own card, through the real stack: a
//! private pcscd with four vpcd readers (the terminal's, two for cards presented as the
//! manager's, and the office's manager card), software cards, `cardgated` and `cardgatectl`.
//! Without a manager's card, with an operator's card as "manager", with a revoked manager's
//! card and with a wrong manager PIN, `card issue` and `card unblock` are refused, nothing is
//! done to the card, and the refusal is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::issue::IssueRequest;
use cardgate_card::{CardSerial, Pin, Puk, Role};
use cardgate_sim::CardImage;
use cardgate_tests::fixtures::{INITIAL_PIN, NEW_PIN, PUK};
use cardgate_tests::{Office, PcscLab, SoftCardFile, MANAGER_PIN};
use serde_json::Value;
use std::process::Output;

/// The slot where this test presents cards as the manager's.
const PRESENTED: usize = 1;

fn office() -> Office {
    Office::standard(PcscLab::with_readers(4).unwrap(), "").unwrap()
}

fn of_kind(office: &Office, kind: &str) -> Vec<Value> {
    office
        .audit_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"]["kind"] == kind)
        .collect()
}

fn card_with_role(office: &Office, name: &str, serial: [u8; 8], role: Role) -> SoftCardFile {
    let request = IssueRequest {
        serial: CardSerial(serial),
        operator_id: name.to_owned(),
        role,
        valid_from: time::macros::date!(2020 - 01 - 01),
        valid_until: time::macros::date!(2099 - 12 - 31),
    };
    let image = cardgate_sim::create_card(
        &office.issuer,
        &Puk::parse(PUK).unwrap(),
        &Pin::parse(NEW_PIN).unwrap(),
        &request,
    )
    .unwrap();
    SoftCardFile::from_image(&office.lab, name, image).unwrap()
}

fn refused(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(what), "{stderr}");
}

#[test]
fn issuance_and_unblock_need_the_access_managers_card() {
    let office = office();
    let manager_reader = office.manager_reader().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let presented = office.lab.reader(PRESENTED).unwrap().to_owned();
    let issuer_dir = office.path("issuer");
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let mut target = office.lab.insert_card(0, &blank).unwrap();
    let _daemon = office.start_daemon().unwrap();
    let issue = |manager: Option<&str>, stdin: &str| {
        let mut args = vec![
            "card",
            "issue",
            "--reader",
            &reader,
            "--operator",
            "op-0042",
            "--issuer-dir",
            &issuer_dir,
        ];
        if let Some(m) = manager {
            args.extend(["--manager-reader", m]);
        }
        office.ctl(&args, stdin).unwrap()
    };
    let untouched = |what: &str| {
        let image = CardImage::load(blank.path()).unwrap();
        assert!(!image.is_personalised(), "{what}: the card was issued");
        assert_eq!(image.puk_tries(), 10, "{what}: the card saw the PUK");
    };
    let issue_stdin = format!("{PUK}\n{INITIAL_PIN}\n");

    // 1. No manager's card at all.
    refused(
        &issue(None, &issue_stdin),
        "needs the access manager's card",
    );
    untouched("no manager");

    // 2. An operator's card presented as the manager's: refused before its PIN is sent.
    let operator = card_with_role(&office, "op-0099", *b"OPCARD99", Role::Operator);
    let mut c = office.lab.insert_card(PRESENTED, &operator).unwrap();
    refused(
        &issue(Some(&presented), &format!("{NEW_PIN}\n{issue_stdin}")),
        "not an access manager's",
    );
    untouched("operator card");
    c.remove().unwrap();
    office.lab.wait_for_no_card(PRESENTED).unwrap();
    assert_eq!(
        CardImage::load(operator.path()).unwrap().pin_tries(),
        3,
        "the PIN went to an operator's card"
    );

    // 3. A manager's card that was revoked.
    let revoked = card_with_role(&office, "mgr-old", *b"MGRCARD0", Role::AccessManager);
    let serial = CardSerial(*b"MGRCARD0").to_string();
    office
        .ctl_ok(
            &[
                "card",
                "revoke",
                &serial,
                "--reason",
                "stolen",
                "--issuer-dir",
                &issuer_dir,
                // A card made for the test, not issued through this register.
                "--not-in-register",
                "--yes",
            ],
            "",
        )
        .unwrap();
    let mut c = office.lab.insert_card(PRESENTED, &revoked).unwrap();
    refused(
        &issue(Some(&presented), &format!("{NEW_PIN}\n{issue_stdin}")),
        "revoked",
    );
    untouched("revoked manager");
    c.remove().unwrap();
    office.lab.wait_for_no_card(PRESENTED).unwrap();

    // 4. The office's manager card with a wrong PIN.
    refused(
        &issue(Some(&manager_reader), &format!("Wrong9999x\n{issue_stdin}")),
        "wrong PIN, 2 tries left",
    );
    untouched("wrong manager PIN");

    // Each refusal is recorded, naming the card presented and why.
    let refusals = of_kind(&office, "manager_refused");
    let reasons: Vec<&str> = refusals
        .iter()
        .map(|r| r["event"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "not_authorised_here",
            "not_authorised_here",
            "card_revoked",
            "wrong_pin"
        ],
        "{refusals:?}"
    );
    assert_eq!(refusals[1]["card"], CardSerial(*b"OPCARD99").to_string());
    assert_eq!(refusals[2]["card"], serial);
    assert_eq!(refusals[3]["event"]["tries_left"], 2);
    assert!(of_kind(&office, "card_issued").is_empty());

    // The manager's card with its PIN: issued, and the record names the manager's card.
    let out = issue(
        Some(&manager_reader),
        &format!("{MANAGER_PIN}\n{issue_stdin}"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued = of_kind(&office, "card_issued");
    assert_eq!(issued.len(), 1);
    let manager_serial = CardSerial(*b"MGRCARD1").to_string();
    assert_eq!(
        issued[0]["event"]["by"],
        format!("uid 0 (root), manager card {manager_serial}"),
        "{}",
        issued[0]
    );
    let serial = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();

    // Unblock: an operator's card as "manager" and a wrong manager PIN are refused; the card
    // keeps its PIN and its PUK tries.
    target.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();
    let mut target = office.lab.insert_card(0, &blank).unwrap();
    let unblock = |manager: &str, pin: &str| {
        office
            .ctl(
                &[
                    "card",
                    "unblock",
                    "--reader",
                    &reader,
                    "--manager-reader",
                    manager,
                    "--yes",
                ],
                &format!("{pin}\n{PUK}\n{NEW_PIN}\n"),
            )
            .unwrap()
    };
    let mut c = office.lab.insert_card(PRESENTED, &operator).unwrap();
    refused(&unblock(&presented, NEW_PIN), "not an access manager's");
    c.remove().unwrap();
    office.lab.wait_for_no_card(PRESENTED).unwrap();
    // (The right PIN in between gave the manager's card its three tries back.)
    refused(
        &unblock(&manager_reader, "Wrong9999x"),
        "wrong PIN, 2 tries left",
    );
    let no_manager = office
        .ctl(
            &["card", "unblock", "--reader", &reader],
            &format!("{PUK}\n{NEW_PIN}\n"),
        )
        .unwrap();
    refused(&no_manager, "--manager-reader");
    target.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();
    let image = CardImage::load(blank.path()).unwrap();
    assert_eq!(image.puk_tries(), 10, "the card saw the PUK");
    assert!(of_kind(&office, "pin_unblocked").is_empty());
    assert_eq!(of_kind(&office, "manager_refused").len(), 6);

    // And with the manager's card and PIN, the unblock goes through, named after it.
    let _target = office.lab.insert_card(0, &blank).unwrap();
    let out = unblock(&manager_reader, MANAGER_PIN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unblocked = of_kind(&office, "pin_unblocked");
    assert_eq!(unblocked.len(), 1);
    assert_eq!(unblocked[0]["card"], serial.as_str());
    assert_eq!(
        unblocked[0]["event"]["by"],
        format!("uid 0 (root), manager card {manager_serial}")
    );
}

#[test]
fn the_first_manager_card_is_issued_without_one_and_the_second_is_not() {
    let office = office();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let issuer_dir = office.path("issuer");
    let issue_manager = |name: &str| {
        let blank = SoftCardFile::from_image(
            &office.lab,
            name,
            CardImage::blank(&Puk::parse(PUK).unwrap()),
        )
        .unwrap();
        let mut card = office.lab.insert_card(0, &blank).unwrap();
        let out = office
            .ctl(
                &[
                    "card",
                    "issue",
                    "--reader",
                    &reader,
                    "--operator",
                    name,
                    "--role",
                    "manager",
                    "--issuer-dir",
                    &issuer_dir,
                ],
                &format!("{PUK}\n{INITIAL_PIN}\n"),
            )
            .unwrap();
        card.remove().unwrap();
        office.lab.wait_for_no_card(0).unwrap();
        (out, CardImage::load(blank.path()).unwrap())
    };
    let _daemon = office.start_daemon().unwrap();
    let (first, image) = issue_manager("mgr-sato");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(image.certificate().unwrap().body.role, Role::AccessManager);
    let issued = of_kind(&office, "card_issued");
    assert_eq!(issued.len(), 1);
    assert_eq!(
        issued[0]["event"]["by"],
        "uid 0 (root), bootstrap (first manager card)"
    );
    // The register now lends a manager's card: a second one needs it.
    let (second, image) = issue_manager("mgr-suzuki");
    refused(&second, "the register lends manager card");
    assert!(!image.is_personalised());
    assert_eq!(of_kind(&office, "card_issued").len(), 1);
    assert_eq!(of_kind(&office, "manager_refused").len(), 1);
}
