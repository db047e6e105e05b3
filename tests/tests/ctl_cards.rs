//! `cardgatectl readers`, `card inspect` and the rails of `card revoke|return` through the
//! real stack: a private pcscd with vpcd readers, the software card (and vsmartcard's `vicc`
//! as a card that is not an operator card), `cardgated` and `cardgatectl` as their own
//! processes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{INITIAL_PIN, OPERATOR, PUK};
use cardgate_tests::{issuer_key, paths, Office, PcscLab, SoftCardFile};
use serde_json::Value;
use std::process::{Command, Output, Stdio};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(office: &Office, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend(args);
    let out = office.ctl(&full, "").unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn inspect(office: &Office, reader: &str) -> Value {
    json(office, &["card", "inspect", "--reader", reader])
}

/// `cardgatectl` with no controlling terminal (`setsid`) and no `--yes`: nobody can be asked.
fn without_terminal(office: &Office, args: &[&str]) -> Output {
    Command::new("setsid")
        .arg("-w")
        .arg(paths::workspace_artifact("cardgatectl", "cardgatectl").unwrap())
        .arg("--config")
        .arg(&office.config)
        .args(args)
        .env("PCSCLITE_CSOCK_NAME", office.lab.client_socket())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// The version of the revocation list file, verified with the office's issuer key.
fn list_version(office: &Office) -> u64 {
    let bytes = std::fs::read(office.dir.join("state/revoked.crl")).unwrap();
    cardgate_card::RevocationList::verify(&bytes, &office.issuer.public_key())
        .unwrap()
        .version()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn readers_and_inspect_see_blank_issued_revoked_and_unknown_cards() {
    let office = Office::standard(PcscLab::with_readers(4).unwrap(), "").unwrap();
    let readers = office.lab.readers().to_vec();
    let reader = readers[0].clone();

    // A blank card in slot 0, vicc (an ISO 7816 card, not an operator card) in slot 1.
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let _card = office.lab.insert_card(0, &blank).unwrap();
    let atr = office.lab.wait_for_card(0).unwrap();
    let mut vicc = office.lab.start_vicc(1).unwrap();
    office.lab.wait_for_card(1).unwrap();

    let listed = json(&office, &["readers"]);
    let names: Vec<&str> = listed["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, readers, "{listed}");
    let of = |name: &str| {
        listed["readers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&readers[0])["card_present"], true);
    assert_eq!(of(&readers[0])["atr"], hex(&atr));
    assert_eq!(of(&readers[0])["operator_card_atr"], true);
    assert_eq!(of(&readers[1])["card_present"], true);
    assert_eq!(of(&readers[1])["operator_card_atr"], false);
    assert_eq!(of(&readers[2])["card_present"], false);
    assert!(of(&readers[2])["atr"].is_null());
    let text = office.ctl_ok(&["readers"], "").unwrap();
    assert!(
        text.contains(&hex(&atr)) && text.contains("no card"),
        "{text}"
    );

    // Blank: the operator card v1 profile, no certificate.
    let seen = inspect(&office, &reader);
    assert_eq!(seen["profile"], "operator-card-v1", "{seen}");
    assert_eq!(seen["personalised"], false, "{seen}");
    assert_eq!(seen["atr"], hex(&atr));
    assert_eq!(seen["pin"]["set"], false, "{seen}");
    // Not an operator card: "unknown card", exit 0.
    let other = inspect(&office, &readers[1]);
    assert_eq!(other["profile"], "unknown", "{other}");
    assert!(other["certificate"].is_null());
    vicc.remove().unwrap();
    // An empty reader and a reader that does not exist: exit 3, named.
    for (r, what) in [
        (readers[2].as_str(), "no card"),
        ("No Such Reader 00", "no reader"),
    ] {
        let out = office.ctl(&["card", "inspect", "--reader", r], "").unwrap();
        assert_eq!(out.status.code(), Some(3), "{r}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(r) && stderr(&out).contains(what),
            "{}",
            stderr(&out)
        );
    }

    // Issued: everything checks out, three tries, and looking spends none.
    let serial = office
        .issue_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    for _ in 0..2 {
        let seen = inspect(&office, &reader);
        let c = &seen["certificate"];
        assert_eq!(seen["personalised"], true, "{seen}");
        assert_eq!(c["serial"], serial.as_str(), "{seen}");
        assert_eq!(c["operator"], OPERATOR);
        assert_eq!(c["role"], "operator");
        assert_eq!(c["validity"], "valid");
        assert_eq!(c["issuer_signature"], "valid", "{seen}");
        assert_eq!(c["revoked"], false, "{seen}");
        assert_eq!(c["register"], "lent");
        assert_eq!(c["returned"], false);
        assert_eq!(seen["pin"]["tries_left"], 3, "{seen}");
        assert_eq!(seen["pin"]["blocked"], false);
    }
    let image = cardgate_sim::CardImage::load(blank.path()).unwrap();
    assert_eq!(image.pin_tries(), 3, "inspect spent a PIN try");

    // Revoke without a terminal and without --yes: refused, exit 4, nothing changed.
    let version = list_version(&office);
    let register = std::fs::read(office.dir.join("state/cards.json")).unwrap();
    let issuer = office.path("issuer");
    let revoke = [
        "card",
        "revoke",
        &serial,
        "--reason",
        "lost",
        "--issuer-dir",
        &issuer,
    ];
    let refused = without_terminal(&office, &revoke);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(&serial) && stderr(&refused).contains(OPERATOR));
    assert_eq!(list_version(&office), version);
    assert_eq!(
        std::fs::read(office.dir.join("state/cards.json")).unwrap(),
        register
    );
    assert_eq!(office.count("card_revoked"), 0);

    // With --yes: revoked, and inspect says so.
    let mut yes = revoke.to_vec();
    yes.push("--yes");
    office.ctl_ok(&yes, "").unwrap();
    assert_eq!(list_version(&office), version + 1);
    let seen = inspect(&office, &reader);
    assert_eq!(seen["certificate"]["revoked"], true, "{seen}");
    assert_eq!(seen["certificate"]["revocation_reason"], "lost");
    assert_eq!(seen["certificate"]["register"], "revoked");
    let text = office
        .ctl_ok(
            &["--lang", "ja", "card", "inspect", "--reader", &reader],
            "",
        )
        .unwrap();
    assert!(
        text.contains("失効しています") && text.contains("残り3回"),
        "{text}"
    );
}

#[test]
fn return_and_the_not_in_register_override_through_the_daemon() {
    let office = Office::standard(PcscLab::with_readers(4).unwrap(), "").unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let _daemon = office.start_daemon().unwrap();
    let issuer = office.path("issuer");

    // A card the register lends: returned with --yes, recorded by the daemon; a second
    // return says it was already returned and changes nothing.
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let mut card = office.lab.insert_card(0, &blank).unwrap();
    let serial = office
        .issue_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    let ret = ["card", "return", &serial, "--issuer-dir", &issuer, "--yes"];
    office.ctl_ok(&ret, "").unwrap();
    assert_eq!(office.count("card_returned"), 1);
    let seen = inspect(&office, &reader);
    assert_eq!(seen["certificate"]["returned"], true, "{seen}");
    let version = list_version(&office);
    let again = office.ctl(&ret, "").unwrap();
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already returned"),
        "{}",
        stderr(&again)
    );
    assert_eq!(list_version(&office), version);
    card.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    // A card of another issuer, not in this register: inspect says so; revoke refuses it
    // (exit 3) unless --not-in-register, and the override is in the audit log, written by
    // the daemon, before the revocation.
    let foreign = SoftCardFile::personalised(
        &office.lab,
        &issuer_key().unwrap(),
        "op-9999",
        INITIAL_PIN,
        PUK,
    )
    .unwrap();
    let foreign_serial = foreign
        .image()
        .certificate()
        .unwrap()
        .body
        .serial
        .to_string();
    let _foreign = office.lab.insert_card(0, &foreign).unwrap();
    let seen = inspect(&office, &reader);
    assert_eq!(seen["certificate"]["issuer_signature"], "invalid", "{seen}");
    assert_eq!(seen["certificate"]["register"], "not_in_register", "{seen}");
    let revoke = [
        "card",
        "revoke",
        &foreign_serial,
        "--reason",
        "stolen",
        "--issuer-dir",
        &issuer,
        "--yes",
    ];
    let refused = office.ctl(&revoke, "").unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert_eq!(list_version(&office), version);
    let mut with_override = revoke.to_vec();
    with_override.push("--not-in-register");
    office.ctl_ok(&with_override, "").unwrap();
    assert_eq!(list_version(&office), version + 1);
    let records: Vec<Value> = office
        .audit_lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let note = records
        .iter()
        .position(|r| {
            r["event"]["kind"] == "note"
                && r["event"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("--not-in-register") && t.contains(&foreign_serial))
        })
        .expect("the override is not in the audit log");
    let revoked = records
        .iter()
        .position(|r| r["event"]["kind"] == "card_revoked" && r["card"] == foreign_serial.as_str())
        .expect("no card_revoked");
    assert!(note < revoked);
    assert_eq!(
        records[note]["event"]["by"], "uid 0 (root)",
        "{}",
        records[note]
    );
    let seen = inspect(&office, &reader);
    assert_eq!(seen["certificate"]["revoked"], true, "{seen}");
    office.verify_audit();
}
