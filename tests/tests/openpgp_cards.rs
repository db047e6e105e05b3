//! The real-stack tests that matter, with the independent OpenPGP card (`tools/opcard-virt`,
//! Nitrokey's opcard) in place of cardgate's own software card: a private pcscd with vpcd,
//! the real `cardgated` and `cardgatectl`, and outside programs (raw APDUs through PC/SC,
//! GnuPG) that check what the card holds afterwards.
//!
//! What each test relies on seeing, it sees from outside cardgate: the card's own retry
//! counter (DO `C4`, read without a PIN), the card program's log of every APDU's header and
//! length (which tells a `VERIFY` with data from one without, never showing the data),
//! pcscd's own APDU log (`--debug --apdu`), and an outside client's INTERNAL AUTHENTICATE
//! without VERIFY while a [`PowerHold`] keeps pcscd from powering the card off by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::openpgp::issue::v4_fingerprint;
use cardgate_card::Certificate;
use cardgate_tests::fixtures::{
    ADMIN_PIN, INITIAL_PIN, NEW_PIN, OPERATOR, OPERATOR_2, PIN, PUK, TERMINAL, USER, USER_2,
    WRONG_PUK,
};
use cardgate_tests::openpgp::{
    self, OutsideClient, PowerHold, FACTORY_PW1, FACTORY_PW3, SW_OK, SW_SECURITY_NOT_SATISFIED,
};
use cardgate_tests::{Office, PcscLab, SoftCardFile, TerminalSpec, VirtualOpenPgpCard};
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

/// The card's own three tries are what these tests count; the daemon's back-off has its own
/// tests in process.
const RATE: &str = "[rate_limit]\nfree_failures = 3\n";

fn office_on(lab: PcscLab) -> Office {
    Office::new(
        lab,
        &[TerminalSpec {
            id: TERMINAL,
            slot: 0,
        }],
        &[(OPERATOR, USER), (OPERATOR_2, USER_2)],
        RATE,
    )
    .unwrap()
}

fn authenticate(office: &Office, user: &str, pin: &str) -> Value {
    office.authenticate(TERMINAL, user, pin)
}

fn change_pin(office: &Office, old: &str, new: &str) -> Value {
    office
        .ask(&format!(
            r#"{{"op":"change_pin","terminal":"{TERMINAL}","user":"{USER}","old":"{old}","new":"{new}"}}"#
        ))
        .unwrap()
}

fn failed(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded: {stderr}");
    assert!(stderr.contains(what), "no {what:?} in: {stderr}");
}

/// `cardgatectl card unblock` of the card in slot 0 with `reset_code` as its PUK.
fn unblock(office: &Office, reset_code: &str, new_pin: &str) -> Output {
    let reader = office.lab.reader(0).unwrap().to_owned();
    office
        .ctl_as_manager(
            &["card", "unblock", "--reader", &reader, "--yes"],
            &format!("{reset_code}\n{new_pin}\n"),
        )
        .unwrap()
}

/// The outside client's view of slot 0: PW1's tries left on the card itself.
fn pw1_tries_left(office: &Office) -> u8 {
    let mut client = OutsideClient::connect(&office.lab, 0).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    let left = client.pw1_tries_left().unwrap();
    client.leave().unwrap();
    left
}

/// An outside client's INTERNAL AUTHENTICATE without VERIFY on slot 0 is refused.
fn assert_security_state_clear(office: &Office, after: &str) {
    assert_eq!(
        openpgp::security_state_probe(&office.lab, 0).unwrap(),
        SW_SECURITY_NOT_SATISFIED,
        "after {after}, an outside client could use the authentication key without a PIN"
    );
}

fn verifies(office: &Office) -> usize {
    openpgp::verifies_with_data(&office.lab, 0).unwrap()
}

/// How many power events the card program in slot 0 has logged (a power-off by pcscd would
/// clear PW1 by itself and make a probe prove nothing).
fn power_events(office: &Office) -> usize {
    let log = std::fs::read_to_string(office.lab.work_dir().join("card-0.log")).unwrap();
    log.lines()
        .filter(|l| l.ends_with("from the reader"))
        .count()
}

/// The records of `kind`, parsed.
fn records(office: &Office, kind: &str) -> Vec<Value> {
    office
        .audit_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"]["kind"] == kind)
        .collect()
}

/// Issuance, the first login's PIN change, a refused login, wrong PINs to blocked, a wrong
/// and then the right Reset Code, a granted login: after each, an outside client finds the
/// security state clear (the card held powered throughout, and no power event came); once
/// blocked, the right PIN is refused without any PIN reaching the card.
#[test]
fn an_openpgp_card_is_issued_blocked_without_a_pin_sent_and_unblocked_with_its_reset_code_leaving_the_security_state_clear(
) {
    let office = office_on(PcscLab::start().unwrap());
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "life").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    office.manager_reader().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let power = PowerHold::connect(&office.lab, 0).unwrap();
    let powered = power_events(&office);

    let serial = office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    assert_security_state_clear(&office, "card issue");

    let a = authenticate(&office, USER, INITIAL_PIN);
    assert_eq!(a["must_change_pin"], true, "{a}");
    assert_security_state_clear(&office, "the first login");
    let weak = change_pin(&office, INITIAL_PIN, "abc123");
    assert_eq!(weak["reason"], "pin_policy", "{weak}");
    assert_eq!(
        change_pin(&office, INITIAL_PIN, NEW_PIN)["result"],
        "granted"
    );
    assert_security_state_clear(&office, "a PIN change");

    for left in [2, 1, 0] {
        let a = authenticate(&office, USER, "Wrong9999");
        assert_eq!(a["tries_left"], left, "{a}");
        assert_eq!(pw1_tries_left(&office), left, "the card's own counter");
        assert_security_state_clear(&office, "a refused login");
    }
    // Blocked: the right PIN is refused, and it never reached the card.
    let sent = verifies(&office);
    let blocked = office.count("pin_blocked");
    let a = authenticate(&office, USER, NEW_PIN);
    assert_eq!(a["reason"], "pin_blocked", "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("access manager"),
        "{a}"
    );
    assert_eq!(verifies(&office), sent, "a PIN was sent to a blocked card");
    assert_eq!(pw1_tries_left(&office), 0);
    assert_eq!(
        office.count("pin_blocked"),
        blocked + 1,
        "the attempt on a blocked card is not recorded: {:?}",
        office.audit_kinds()
    );

    // A wrong Reset Code: refused by the card and recorded.
    failed(&unblock(&office, WRONG_PUK, INITIAL_PIN), "wrong PUK");
    let rejected = records(&office, "puk_rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["card"], serial.as_str(), "{}", rejected[0]);
    assert_eq!(rejected[0]["event"]["tries_left"], 2, "{}", rejected[0]);
    assert_eq!(
        pw1_tries_left(&office),
        0,
        "a wrong Reset Code unblocked PW1"
    );
    assert_security_state_clear(&office, "a refused unblock");

    // The right one: PW1 is unblocked with the new PIN, which logs in.
    let out = unblock(&office, PUK, INITIAL_PIN);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pw1_tries_left(&office), 3);
    assert_security_state_clear(&office, "card unblock");
    assert_eq!(records(&office, "pin_unblocked").len(), 1);
    let a = authenticate(&office, USER, INITIAL_PIN);
    assert_eq!(a["result"], "granted", "{a}");
    assert_security_state_clear(&office, "a granted login");
    assert_eq!(
        power_events(&office),
        powered,
        "the card was powered off or reset during the test: the probes prove nothing"
    );
    drop(power);

    let log = office.audit_lines().join("\n");
    for secret in [PUK, WRONG_PUK, INITIAL_PIN, NEW_PIN, ADMIN_PIN] {
        assert!(!log.contains(secret), "a secret reached the audit log");
    }
    office.verify_audit();
}

/// A card lent to a colleague is refused for this user, and a revoked card for its own
/// holder, both before the PIN: the card's PW1 counter is untouched and no VERIFY with data
/// reached it.
#[test]
fn a_colleagues_openpgp_card_and_a_revoked_one_are_refused_before_any_pin_reaches_the_card() {
    let office = office_on(PcscLab::start().unwrap());
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "colleague").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let serial = office
        .issue_openpgp_card(&reader, OPERATOR_2, PUK, INITIAL_PIN)
        .unwrap();
    let sent = verifies(&office);

    // Lent to OPERATOR_2 (USER_2): USER is refused (art. 5.3).
    let a = authenticate(&office, USER, INITIAL_PIN);
    assert_eq!(a["reason"], "wrong_user", "{a}");
    assert_eq!(verifies(&office), sent, "a PIN reached a colleague's card");
    assert_eq!(pw1_tries_left(&office), 3);

    // Revoked (art. 5.4): its own holder is refused before the PIN.
    office.revoke_card(&serial, "lost").unwrap();
    let start = Instant::now();
    loop {
        let probe = office
            .ask(&format!(
                r#"{{"op":"probe","terminal":"{TERMINAL}","user":"{USER_2}"}}"#
            ))
            .unwrap();
        if probe["reason"] == "revoked" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the daemon never saw the revocation: {probe}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let a = authenticate(&office, USER_2, INITIAL_PIN);
    assert_eq!(a["reason"], "revoked", "{a}");
    assert_eq!(verifies(&office), sent, "a PIN reached a revoked card");
    assert_eq!(pw1_tries_left(&office), 3);
    let presented = records(&office, "revoked_card_presented");
    assert!(!presented.is_empty(), "{:?}", office.audit_kinds());
    assert_eq!(presented[0]["card"], serial.as_str(), "{}", presented[0]);
}

/// Card A's certificate copied onto card B (same OpenPGP serial, its own P-256 key, its PIN
/// set to A's): cardgate reads A's certificate from B, the PIN verifies, and INTERNAL
/// AUTHENTICATE with B's key does not match the certificate: refused, and recorded. On the
/// way, the probe is shown able to fail: after an outside client's own VERIFY of PW1 it
/// answers 9000.
#[test]
fn a_certificate_copied_onto_another_openpgp_card_is_refused_and_recorded() {
    let office = office_on(PcscLab::start().unwrap());
    let serial = [0x0C, 0x10, 0x4E, 0x01];
    let a_card = VirtualOpenPgpCard::with_serial(&office.lab, "card-a", serial).unwrap();
    let mut inserted = office.lab.insert_openpgp_card(0, &a_card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let cardgate_serial = office
        .issue_openpgp_card(&reader, OPERATOR, PUK, PIN)
        .unwrap();
    let mut client = OutsideClient::connect(&office.lab, 0).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    let (certificate, sw) = client.get_data(&[0x7F, 0x21]).unwrap();
    assert_eq!(sw, SW_OK);
    client.leave().unwrap();
    Certificate::parse(&certificate).unwrap();
    inserted.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    // Card B, factory-fresh, personalised by an outside client.
    let b_card = VirtualOpenPgpCard::with_serial(&office.lab, "card-b", serial).unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &b_card).unwrap();
    let power = PowerHold::connect(&office.lab, 0).unwrap();
    let mut client = OutsideClient::connect(&office.lab, 0).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    assert_eq!(client.verify(0x83, FACTORY_PW3).unwrap(), SW_OK);
    client.generate_p256_auth_key().unwrap();
    assert_eq!(
        client.put_data_chained([0x7F, 0x21], &certificate).unwrap(),
        SW_OK
    );
    let mut change = vec![0x00, 0x24, 0x00, 0x81];
    let both = format!("{FACTORY_PW1}{PIN}");
    change.push(both.len() as u8);
    change.extend_from_slice(both.as_bytes());
    assert_eq!(client.transmit(&change).unwrap().1, SW_OK, "CHANGE PW1");
    // The probe can fail: with PW1 verified by this client, INTERNAL AUTHENTICATE works.
    assert_eq!(client.verify(0x82, PIN).unwrap(), SW_OK);
    client.leave().unwrap();
    assert_eq!(
        openpgp::security_state_probe(&office.lab, 0).unwrap(),
        SW_OK
    );
    let mut client = OutsideClient::connect(&office.lab, 0).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    assert_eq!(client.unverify(0x82).unwrap(), SW_OK);
    assert_eq!(client.unverify(0x83).unwrap(), SW_OK);
    client.leave().unwrap();
    assert_security_state_clear(&office, "the outside client's VERIFY P1=FF");
    drop(power);

    let a = authenticate(&office, USER, PIN);
    assert_eq!(a["result"], "denied", "{a}");
    assert_eq!(a["reason"], "card_authentication_failed", "{a}");
    let failures = records(&office, "card_auth_failed");
    assert_eq!(failures.len(), 1, "{:?}", office.audit_kinds());
    assert_eq!(
        failures[0]["card"],
        cardgate_serial.as_str(),
        "{}",
        failures[0]
    );
    let denied = records(&office, "login_denied");
    assert!(
        denied
            .iter()
            .any(|r| r["event"]["reason"] == "card_authentication_failed"),
        "{denied:?}"
    );
}

/// What `cardgatectl card issue` wrote, read by GnuPG: `gpg --card-status` shows the
/// authentication key whose v4 fingerprint is that of the key in cardgate's certificate at
/// the creation time gpg shows, and KDF on; scdaemon's `READCERT OPENPGP.3` returns the
/// certificate byte for byte as an outside client reads it from DO `7F21`, and it is the
/// certificate the office's issuer signed for the operator.
#[test]
fn gpg_reads_the_authentication_key_kdf_and_the_certificate_that_cardgatectl_wrote() {
    let office = office_on(PcscLab::start().unwrap());
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "gpg").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let serial = office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();

    let mut client = OutsideClient::connect(&office.lab, 0).unwrap();
    assert_eq!(client.select_openpgp().unwrap(), SW_OK);
    let (written, sw) = client.get_data(&[0x7F, 0x21]).unwrap();
    assert_eq!(sw, SW_OK);
    client.leave().unwrap();
    let cert = Certificate::parse(&written).unwrap();
    assert_eq!(cert.body.serial.to_string(), serial);
    assert_eq!(cert.body.operator_id, OPERATOR);
    cert.verify_issuer(&office.issuer.public_key()).unwrap();

    let status = openpgp::gpg_card_status(&office.lab, 0).unwrap();
    let field = |name: &str| -> String {
        status
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
    };
    assert!(field("KDF setting").starts_with("on"), "{status}");
    let shown: String = field("Authentication key")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // The `created` line that follows the authentication key's.
    let created = status
        .lines()
        .skip_while(|l| !l.starts_with("Authentication key"))
        .find_map(|l| l.trim_start().strip_prefix("created ....:"))
        .unwrap_or_else(|| panic!("no creation time of the authentication key in:\n{status}"))
        .trim()
        .to_owned();
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let created = time::PrimitiveDateTime::parse(&created, &format)
        .unwrap()
        .assume_utc()
        .unix_timestamp();
    let expected = v4_fingerprint(&cert.body.card_public_key, u32::try_from(created).unwrap());
    assert_eq!(
        shown,
        hex::encode_upper(expected),
        "gpg's authentication key is not the certificate's key:\n{status}"
    );

    let read_by_gpg = openpgp::gpg_read_certificate(&office.lab, 0).unwrap();
    assert_eq!(read_by_gpg, written, "scdaemon read another certificate");
    assert_eq!(
        read_by_gpg,
        cert.encode(),
        "the certificate is not cardgate's"
    );
}

/// KDF: while the card's KDF-DO is on, no PIN, Reset Code or admin PIN that cardgate sends
/// at issuance, login, PIN change and unblock crosses the reader in clear (pcscd's own log of
/// every APDU); the one secret a factory-fresh card can only take in clear, its factory admin
/// PIN, does appear there, and so does the PIN of the software v1 card: the check can fail.
#[test]
fn with_kdf_on_no_pin_crosses_the_reader_in_clear() {
    let office = office_on(PcscLab::start_logging_apdus().unwrap());
    let contains = |needle: &str| {
        office
            .lab
            .apdus_logged()
            .unwrap()
            .iter()
            .any(|apdu| apdu.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    let _daemon = office.start_daemon().unwrap();
    office.manager_reader().unwrap();

    // The software card sends its PIN as it is: pcscd's log shows it.
    let soft = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let mut inserted = office.lab.insert_card(0, &soft).unwrap();
    assert_eq!(authenticate(&office, USER, PIN)["result"], "granted");
    assert!(
        contains(PIN),
        "pcscd's APDU log does not show the v1 card's PIN"
    );
    inserted.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "kdf").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    assert!(
        contains(FACTORY_PW3),
        "the factory admin PIN is not in pcscd's log"
    );
    assert_eq!(
        authenticate(&office, USER, INITIAL_PIN)["result"],
        "granted"
    );
    assert_eq!(
        change_pin(&office, INITIAL_PIN, NEW_PIN)["result"],
        "granted"
    );
    for _ in 0..3 {
        authenticate(&office, USER, "Wrong9999");
    }
    let out = unblock(&office, PUK, INITIAL_PIN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        authenticate(&office, USER, INITIAL_PIN)["result"],
        "granted"
    );
    for secret in [INITIAL_PIN, NEW_PIN, PUK, ADMIN_PIN, "Wrong9999"] {
        assert!(!contains(secret), "{secret:?} crossed the reader in clear");
    }
}
