//! The OpenPGP card profile end to end on the independent card (`tools/opcard-virt`):
//! `cardgatectl card issue` of a factory-fresh card through pcscd, the first login with its
//! PIN change, a login, and an outside client finding the security state clear afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{INITIAL_PIN, NEW_PIN, OPERATOR, PUK, TERMINAL, USER};
use cardgate_tests::{openpgp, Office, PcscLab, VirtualOpenPgpCard};
use serde_json::Value;

fn authenticate(office: &Office, pin: &str) -> Value {
    office.authenticate(TERMINAL, USER, pin)
}

#[test]
fn a_factory_fresh_openpgp_card_is_issued_and_logs_in_through_the_daemon() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "nitrokey").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();

    let serial = office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    assert_eq!(serial.len(), 16);
    let inspected: Value = serde_json::from_str(
        &office
            .ctl_ok(&["--json", "card", "inspect", "--reader", &reader], "")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(inspected["profile"], "openpgp-3.4", "{inspected}");
    assert_eq!(inspected["certificate"]["serial"], serial.as_str());
    assert_eq!(inspected["openpgp"]["version"], "3.4");
    assert_eq!(inspected["openpgp"]["kdf"], true);
    assert_eq!(inspected["openpgp"]["admin_pin_tries_left"], 3);
    assert_eq!(inspected["pin"]["tries_left"], 3);

    let a = authenticate(&office, INITIAL_PIN);
    assert_eq!(
        (a["result"].as_str(), a["must_change_pin"].as_bool()),
        (Some("granted"), Some(true)),
        "{a}"
    );
    let changed = office.ask(&format!(
        r#"{{"op":"change_pin","terminal":"{TERMINAL}","user":"{USER}","old":"{INITIAL_PIN}","new":"{NEW_PIN}"}}"#
    ));
    assert_eq!(changed.unwrap()["result"], "granted");
    let power = openpgp::PowerHold::connect(&office.lab, 0).unwrap();
    let a = authenticate(&office, NEW_PIN);
    assert_eq!(a["result"], "granted", "{a}");
    assert_eq!(
        openpgp::security_state_probe(&office.lab, 0).unwrap(),
        openpgp::SW_SECURITY_NOT_SATISFIED
    );
    drop(power);
    let status = openpgp::gpg_card_status(&office.lab, 0).unwrap();
    eprintln!("{status}");
    assert!(status.contains("KDF setting"), "{status}");
}

#[test]
fn an_openpgp_card_keeps_no_factory_admin_pin_and_is_not_touched_when_one_is_given() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "yubikey").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let issuer = office.path("issuer");
    let factory = openpgp::FACTORY_PW3;
    let out = office
        .ctl_as_manager(
            &[
                "card",
                "issue",
                "--reader",
                &reader,
                "--operator",
                OPERATOR,
                "--issuer-dir",
                &issuer,
            ],
            &format!("{factory}\n{factory}\n{PUK}\n{INITIAL_PIN}\n"),
        )
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("12345678"), "{stderr}");
    // Nothing was sent to the card: PW3 has all its tries, and no key was generated.
    let status = openpgp::gpg_card_status(&office.lab, 0).unwrap();
    assert!(status.contains("PIN retry counter : 3 0 3"), "{status}");
    assert!(status.contains("Authentication key: [none]"), "{status}");
}

#[test]
fn a_card_left_terminated_by_an_interrupted_reset_is_brought_back_to_its_factory_state() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "terminated").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    // A reset pulled between TERMINATE DF and ACTIVATE FILE: the card is terminated.
    let mut client = openpgp::OutsideClient::connect(&office.lab, 0).unwrap();
    openpgp::expect_ok("SELECT", client.select_openpgp().unwrap()).unwrap();
    // The admin PIN went to the card hashed (KDF on): block PW3 instead, as a reset does.
    while client.retry_counters().unwrap()[2] > 0 {
        client.verify(0x83, "Wrong99999").unwrap();
    }
    let (_, sw) = client
        .transmit(&openpgp::apdu(0x00, 0xE6, 0x00, 0x00, &[]))
        .unwrap();
    openpgp::expect_ok("TERMINATE DF", sw).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), 0x6285, "terminated");
    client.leave().unwrap();
    openpgp::factory_reset(&office.lab, 0).unwrap();
    let status = openpgp::gpg_card_status(&office.lab, 0).unwrap();
    assert!(status.contains("PIN retry counter : 3 0 3"), "{status}");
    assert!(status.contains("Authentication key: [none]"), "{status}");
    assert!(status.contains("KDF setting ......: off"), "{status}");
    // And it takes a new issuance from the factory state (the admin PIN it had is gone).
    office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
}
