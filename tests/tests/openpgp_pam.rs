//! pam_cardgate through a real PAM stack (pamtester, in a private mount namespace: see
//! `tests/tests/pamtester.rs`) with the independent OpenPGP card (`tools/opcard-virt`) in
//! the terminal's reader: the first login's PIN change, the removal lock, and a card that
//! another tool personalised refused before any PIN is asked.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{INITIAL_PIN, NEW_PIN, OPERATOR, PUK, TERMINAL, USER};
use cardgate_tests::openpgp::{self, FACTORY_PW1, FACTORY_PW3};
use cardgate_tests::pamtester::{pamtester, service_file, Finished};
use cardgate_tests::{Office, PcscLab, VirtualOpenPgpCard};
use std::path::PathBuf;

fn office() -> Office {
    Office::standard(
        PcscLab::start().unwrap(),
        "[rate_limit]\nfree_failures = 3\n",
    )
    .unwrap()
}

fn service(office: &Office, lang: &str) -> PathBuf {
    let args = format!(
        "terminal={TERMINAL} socket={} wait=5 lang={lang}",
        office.login_socket().display()
    );
    service_file(&office.dir, &format!("cardgate-openpgp-{lang}"), &args).unwrap()
}

fn run(office: &Office, lang: &str, env: &[&str], ops: &[&str], answers: &[&str]) -> Finished {
    pamtester(&service(office, lang), USER, env, ops, answers).unwrap()
}

fn assert_failed(run: &Finished, pam_error: &str) {
    assert!(
        !run.status.success(),
        "succeeded: {}{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(pam_error),
        "no {pam_error:?} in:\n{}",
        run.stderr
    );
}

fn assert_succeeded(run: &Finished) {
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
}

/// An OpenPGP card issued by `cardgatectl card issue`: the first login through PAM with the
/// initial PIN must change it (a weak new PIN refused by the host's policy, which the card
/// itself would take), then the session opens; the next login takes the new PIN; the card
/// pulled, the session is locked.
#[test]
fn an_issued_openpgp_card_logs_in_through_pam_changes_its_initial_pin_and_locks_when_pulled() {
    let office = office();
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "pam").unwrap();
    let mut inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    office
        .issue_openpgp_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();

    let weak = run(
        &office,
        "en",
        &[],
        &["authenticate", "chauthtok"],
        &[INITIAL_PIN, INITIAL_PIN, "abc123", "abc123"],
    );
    assert_failed(&weak, "Authentication token manipulation error");
    assert!(
        weak.stderr
            .contains("The new PIN does not meet the PIN policy"),
        "{}",
        weak.stderr
    );

    let first = run(
        &office,
        "en",
        &["XDG_SESSION_ID=c3"],
        &["authenticate", "chauthtok", "acct_mgmt", "open_session"],
        &[INITIAL_PIN, INITIAL_PIN, NEW_PIN, NEW_PIN],
    );
    assert_succeeded(&first);
    assert_eq!(first.prompts(), 4, "{}", first.stderr);
    assert!(
        first.stdout.contains("successfully opened a session"),
        "{}",
        first.stdout
    );

    let next = run(
        &office,
        "en",
        &["XDG_SESSION_ID=c4"],
        &["authenticate", "acct_mgmt", "open_session"],
        &[NEW_PIN],
    );
    assert_succeeded(&next);
    assert_eq!(next.prompts(), 1, "{}", next.stderr);
    let old = run(&office, "en", &[], &["authenticate"], &[INITIAL_PIN]);
    assert_failed(&old, "Authentication failure");

    inserted.remove().unwrap();
    office.wait_for_call("lock-session c4").unwrap();
    assert_eq!(office.count("pin_changed"), 1, "{:?}", office.audit_kinds());
}

/// A card personalised with GnuPG alone (an ECDSA P-256 authentication key generated on it
/// by scdaemon, no cardgate certificate) is refused before any PIN is asked: no PIN prompt,
/// no VERIFY with data reaches the card, and the message says, in both languages, that the
/// card was not issued by cardgate. (OpenSC's `openpgp-tool --gen-key` generates RSA keys
/// only, which opcard does not.)
#[test]
fn an_openpgp_card_personalised_with_another_tool_is_refused_before_any_pin_is_asked() {
    let office = office();
    let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "foreign").unwrap();
    let _inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
    // GnuPG's own scdaemon, through gpg-connect-agent: ECDSA P-256 attributes for the
    // authentication key and a key generated on the card, the admin PIN given through the
    // agent's loopback pinentry (no terminal, no pinentry program).
    let out = openpgp::gnupg_run(
        &office.lab,
        0,
        "gpg-connect-agent",
        &[],
        &format!(
            "OPTION pinentry-mode=loopback\n/let pw {FACTORY_PW3}\n/definq PASSPHRASE pw\n\
             SCD SETATTR KEY-ATTR --force 3 19 nistp256\nSCD GENKEY --force 3\n/bye\n"
        ),
    )
    .unwrap();
    assert!(
        !out.lines().any(|l| l.starts_with("ERR")),
        "gpg-connect-agent:\n{out}"
    );
    // It is a working OpenPGP card with a key, as gpg sees it.
    let status = openpgp::gpg_card_status(&office.lab, 0).unwrap();
    let auth = status
        .lines()
        .find(|l| l.starts_with("Authentication key"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(!auth.contains("[none]"), "no key was generated:\n{status}");
    let _daemon = office.start_daemon().unwrap();
    let sent = openpgp::verifies_with_data(&office.lab, 0).unwrap();

    for (lang, says) in [
        ("en", "This card was not issued by cardgate"),
        ("ja", "cardgate で発行された"),
    ] {
        let refused = run(&office, lang, &[], &["authenticate"], &[FACTORY_PW1]);
        assert_failed(&refused, "Authentication failure");
        assert_eq!(refused.prompts(), 0, "a PIN was asked: {}", refused.stderr);
        assert!(refused.stderr.contains(says), "{}", refused.stderr);
    }
    let answer = office.authenticate(TERMINAL, USER, FACTORY_PW1);
    assert_eq!(answer["reason"], "not_operator_card", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not issued by cardgate"),
        "{answer}"
    );
    assert_eq!(
        openpgp::verifies_with_data(&office.lab, 0).unwrap(),
        sent,
        "a PIN reached the card"
    );
}
