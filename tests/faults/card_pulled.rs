//! The card pulled at every APDU of every flow, through the real stack: `cardgate-sim serve
//! --remove-after-apdus N` answers N APDUs and then leaves the reader, for N = 0 up to the
//! whole flow. Login and PIN change go through `cardgated`; unblock and issuance through
//! `cardgatectl`. After each pull: nobody is authenticated, the card image holds exactly the
//! try counters the APDUs it answered account for, and the error is clear.
//!
//! The in-process variant (`SimTransport` pulling before or after APDU n, so also with the
//! card having processed a command whose answer never arrived) covers the card-layer flows.

use cardgate_card::issue::{unblock, IssueRequest};
use cardgate_card::{CardSerial, OperatorCard, Pin, Puk, Role, Verification};
use cardgate_sim::transport::{Faults, SimTransport};
use cardgate_sim::{CardImage, SoftCard};
use cardgate_tests::fixtures::{NEW_PIN, PIN, PUK};
use cardgate_tests::{outcome, Office};
use cardgate_tests::{PcscLab, SoftCardFile};
use std::time::Duration;

/// Which of `pins` the card in `image` accepts (on an in-memory copy: no try is spent on the
/// image under test).
fn accepted_pin<'a>(image: &CardImage, pins: &[&'a str]) -> Option<&'a str> {
    pins.iter().copied().find(|pin| {
        let mut card = OperatorCard::new(SimTransport::new(SoftCard::in_memory(image.clone())));
        card.select().unwrap();
        card.verify_pin(&Pin::parse(pin).unwrap()).unwrap() == Verification::Verified
    })
}

fn blocked(image: CardImage) -> CardImage {
    let mut card = OperatorCard::new(SimTransport::new(SoftCard::in_memory(image)));
    card.select().unwrap();
    for _ in 0..3 {
        card.verify_pin(&Pin::parse("Wrong9999").unwrap()).unwrap();
    }
    card.into_transport().into_card().into_image()
}

/// Inserts `image` as a card that leaves after `n` APDUs, runs `flow`, and returns its
/// result with the card image as the card left it.
fn pulled_after<R>(
    office: &Office,
    name: &str,
    image: &CardImage,
    n: u64,
    flow: impl FnOnce() -> R,
) -> (R, CardImage) {
    eprintln!("{name}: the card leaves after {n} APDUs");
    let file = SoftCardFile::from_image(&office.lab, name, image.clone()).unwrap();
    let mut card = office.lab.serve_card(0, &file, Some(n)).unwrap();
    if n == 0 {
        // The card leaves as soon as it is in: let it, so the flow surely finds no card.
        card.wait_exit(Duration::from_secs(10)).unwrap();
    } else {
        office.lab.wait_for_card(0).unwrap();
    }
    let result = flow();
    // The flow used fewer than n APDUs only at n past its end: then pull the card by hand.
    card.remove().ok();
    office.lab.wait_for_no_card(0).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    (result, CardImage::load(file.path()).unwrap())
}

fn is_card_gone(reason: &str) -> bool {
    matches!(reason, "no_card" | "card_removed")
}

#[test]
fn login_through_the_daemon_pulled_at_every_apdu() {
    let office = Office::standard(
        PcscLab::start().unwrap(),
        // Each wrong PIN here is on a fresh copy of the card: the back-off is tested elsewhere.
        "[rate_limit]\nfree_failures = 50",
    )
    .unwrap();
    let image = SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK)
        .unwrap()
        .image()
        .clone();
    let _daemon = office.start_daemon().unwrap();
    // SELECT, VERIFY, INTERNAL AUTHENTICATE, and the SELECT that clears the security state.
    const FLOW: u64 = 4;
    let mut granted = 0;
    for n in 0..=FLOW {
        let (answer, after) = pulled_after(&office, &format!("login-{n}"), &image, n, || {
            office.authenticate("juki-01", "tanaka", PIN)
        });
        let got = outcome(&answer);
        if n < 3 {
            assert!(is_card_gone(&got), "pulled after {n} APDUs: {answer}");
        } else {
            // The card proved itself before it left: the login stands, and the removal then
            // cancels it before any session opens.
            assert_eq!(got, "granted", "pulled after {n} APDUs: {answer}");
            granted += 1;
        }
        let open = office.open_session("juki-01", "tanaka", &format!("s{n}"));
        assert_ne!(open["result"], "granted", "pulled after {n}: {open}");
        assert!(office.sessions().is_empty(), "pulled after {n}");
        // The right PIN was given: no try lost, whatever the pull.
        assert_eq!((after.pin_tries(), after.puk_tries()), (3, 10), "n={n}");
    }
    assert_eq!(office.count("login_granted"), granted);
    // A wrong PIN: the try is spent exactly when the card answered the VERIFY.
    for n in 0..=FLOW {
        let (answer, after) = pulled_after(&office, &format!("wrong-{n}"), &image, n, || {
            office.authenticate("juki-01", "tanaka", "Wrong9999")
        });
        let expected_tries = if n >= 2 { 2 } else { 3 };
        assert_eq!(after.pin_tries(), expected_tries, "n={n}: {answer}");
        if n >= 2 {
            assert_eq!(
                (outcome(&answer), answer["tries_left"].as_u64()),
                ("wrong_pin".to_owned(), Some(2)),
                "n={n}"
            );
        } else {
            assert!(is_card_gone(&outcome(&answer)), "n={n}: {answer}");
        }
    }
    assert_eq!(office.count("login_granted"), granted);
    office.verify_audit();
}

#[test]
fn pin_change_through_the_daemon_pulled_at_every_apdu() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let image = SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK)
        .unwrap()
        .image()
        .clone();
    let _daemon = office.start_daemon().unwrap();
    // SELECT, CHANGE REFERENCE DATA, the clearing SELECT.
    const FLOW: u64 = 3;
    for n in 0..=FLOW {
        let (answer, after) = pulled_after(&office, &format!("change-{n}"), &image, n, || {
            office.ask(&format!(
                r#"{{"op":"change_pin","terminal":"juki-01","user":"tanaka","old":"{PIN}","new":"{NEW_PIN}"}}"#
            )).unwrap()
        });
        let in_force = accepted_pin(&after, &[PIN, NEW_PIN]);
        assert_eq!(after.pin_tries(), 3, "n={n}: no try lost");
        if n < 2 {
            assert!(is_card_gone(&outcome(&answer)), "n={n}: {answer}");
            assert_eq!(in_force, Some(PIN), "n={n}: the card never saw the change");
        } else {
            // The card changed the PIN and said so: the answer must say so too.
            assert_eq!(outcome(&answer), "granted", "n={n}: {answer}");
            assert_eq!(in_force, Some(NEW_PIN), "n={n}");
        }
    }
    assert_eq!(office.count("pin_changed"), 2);
    office.verify_audit();
}

#[test]
fn unblock_through_cardgatectl_pulled_at_every_apdu() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let image = blocked(
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK)
            .unwrap()
            .image()
            .clone(),
    );
    let reader = office.lab.reader(0).unwrap().to_owned();
    // The plan's read (SELECT, and the re-select that ends every operation), then SELECT
    // (read the certificate), SELECT, RESET RETRY COUNTER.
    const FLOW: u64 = 5;
    for n in 0..=FLOW {
        let (out, after) = pulled_after(&office, &format!("unblock-{n}"), &image, n, || {
            office
                .ctl_as_manager(
                    &["card", "unblock", "--reader", &reader, "--yes"],
                    &format!("{PUK}\n{NEW_PIN}\n"),
                )
                .unwrap()
        });
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert_eq!(after.puk_tries(), 10, "n={n}: the right PUK costs no try");
        if n < FLOW {
            assert!(!out.status.success(), "n={n}");
            assert!(
                stderr.contains("removed")
                    || stderr.contains("card left")
                    || stderr.contains("no card")
                    || stderr.contains("no smart card"),
                "n={n}: unclear error: {stderr}"
            );
            assert_eq!(after.pin_tries(), 0, "n={n}: still blocked");
        } else {
            assert!(out.status.success(), "n={n}: {stderr}");
            assert_eq!(after.pin_tries(), 3, "n={n}");
            assert_eq!(accepted_pin(&after, &[PIN, NEW_PIN]), Some(NEW_PIN));
        }
    }
    assert_eq!(office.count("pin_unblocked"), 1);
    office.verify_audit();
}

#[test]
fn issuance_through_cardgatectl_pulled_at_every_apdu() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let blank = CardImage::blank(&Puk::parse(PUK).unwrap());
    let reader = office.lab.reader(0).unwrap().to_owned();
    let issuer_dir = office.path("issuer");
    let issue = |office: &Office| {
        office
            .ctl_as_manager(
                &[
                    "card",
                    "issue",
                    "--reader",
                    &reader,
                    "--operator",
                    "op-0042",
                    "--issuer-dir",
                    &issuer_dir,
                ],
                &format!("{PUK}\n{PIN}\n"),
            )
            .unwrap()
    };
    // SELECT, VERIFY PUK, GENERATE KEY PAIR, RESET RETRY COUNTER, PUT DATA.
    const FLOW: u64 = 5;
    for n in 0..=FLOW {
        let (out, after) =
            pulled_after(&office, &format!("issue-{n}"), &blank, n, || issue(&office));
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert_eq!(after.puk_tries(), 10, "n={n}: the right PUK costs no try");
        if n < FLOW {
            assert!(!out.status.success(), "n={n}");
            assert!(
                stderr.contains("removed")
                    || stderr.contains("no card")
                    || stderr.contains("no smart card"),
                "n={n}: unclear error: {stderr}"
            );
            // Half-done: either still blank, or a card that nobody can log in with and that
            // a second issuance completes.
            assert!(
                !after.is_personalised(),
                "n={n}: a certificate before the issuance finished"
            );
            let file =
                SoftCardFile::from_image(&office.lab, &format!("reissue-{n}"), after).unwrap();
            let mut card = office.lab.insert_card(0, &file).unwrap();
            let daemon = office.start_daemon().unwrap();
            let refused = office.authenticate("juki-01", "tanaka", PIN);
            assert_ne!(refused["result"], "granted", "n={n}: {refused}");
            drop(daemon);
            let out = issue(&office);
            assert!(
                out.status.success(),
                "n={n}: a card left half-issued cannot be issued again: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            card.remove().unwrap();
            office.lab.wait_for_no_card(0).unwrap();
            let done = CardImage::load(file.path()).unwrap();
            assert!(done.is_personalised() && done.has_pin(), "n={n}");
        } else {
            assert!(out.status.success(), "n={n}: {stderr}");
            assert!(after.is_personalised() && after.has_pin());
            assert_eq!(accepted_pin(&after, &[PIN]), Some(PIN));
        }
    }
    // One record per card issued: the failed attempts left none.
    let lent = office.ctl_ok(&["card", "list"], "").unwrap();
    assert_eq!(office.count("card_issued"), (FLOW + 1) as usize, "{lent}");
    assert_eq!(lent.lines().count() - 1, (FLOW + 1) as usize, "{lent}");
    office.verify_audit();
}

/// PIN change and unblock in process, pulled before APDU n (never seen by the card) and after
/// it (processed, answer lost): the counters always match what the card processed.
#[test]
fn card_flows_pulled_before_and_after_every_apdu_in_process() {
    let issuer = cardgate_card::IssuerKey::generate().unwrap();
    let puk = Puk::parse(PUK).unwrap();
    let pin = Pin::parse(PIN).unwrap();
    let new_pin = Pin::parse(NEW_PIN).unwrap();
    let request = IssueRequest {
        serial: CardSerial([1, 2, 3, 4, 5, 6, 7, 8]),
        operator_id: "op-0042".into(),
        role: Role::Operator,
        valid_from: time::macros::date!(2020 - 01 - 01),
        valid_until: time::macros::date!(2099 - 12 - 31),
    };
    let personalised = cardgate_sim::create_card(&issuer, &puk, &pin, &request).unwrap();
    let run = |image: &CardImage,
               faults: Faults,
               flow: &dyn Fn(&mut OperatorCard<SimTransport>) -> bool| {
        let mut card = OperatorCard::new(
            SimTransport::new(SoftCard::in_memory(image.clone())).with_faults(faults),
        );
        let ok = flow(&mut card);
        (ok, card.into_transport().into_card().into_image())
    };
    // PIN change: SELECT, CHANGE REFERENCE DATA.
    for n in 0..2 {
        for (faults, processed) in [
            (Faults::new().pull_before(n), n > 1),
            (Faults::new().pull_after(n), n >= 1),
        ] {
            let (ok, after) = run(&personalised, faults, &|c| {
                c.select().is_ok() && c.change_pin(&pin, &new_pin).is_ok()
            });
            assert!(!ok, "n={n}");
            assert_eq!(after.pin_tries(), 3);
            let expected = if processed { NEW_PIN } else { PIN };
            assert_eq!(
                accepted_pin(&after, &[PIN, NEW_PIN]),
                Some(expected),
                "n={n}"
            );
        }
    }
    // Unblock: SELECT, RESET RETRY COUNTER (after the host's own SELECT in `unblock`).
    let blocked_card = blocked(personalised.clone());
    for n in 0..2 {
        for (faults, processed) in [
            (Faults::new().pull_before(n), false),
            (Faults::new().pull_after(n), n == 1),
        ] {
            let (ok, after) = run(&blocked_card, faults, &|c| {
                unblock(c, &puk, &new_pin).is_ok()
            });
            assert!(!ok, "n={n}");
            assert_eq!(after.puk_tries(), 10);
            assert_eq!(after.pin_tries(), if processed { 3 } else { 0 }, "n={n}");
        }
    }
    // Issuance in process: crates/card/tests/issuance_interrupted.rs (the regression test of
    // the bug this campaign found there).
}
