//! A decision's records are one durable batch, written before anything else happens, and no
//! refusal is answered without its record (issue 16).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_audit::record::{DenyReason, PinRule};
use cardgate_audit::Event;
use cardgate_card::SecretString;
use cardgate_protocol::Answer;
use common::*;
use std::sync::atomic::Ordering::SeqCst;

fn change_pin(w: &World, old: &str, new: &str) -> Answer {
    w.engine.change_pin(
        0,
        "juki-01",
        "alice",
        &SecretString::from(old),
        &SecretString::from(new),
    )
}

fn denials(w: &World, start: usize) -> Vec<DenyReason> {
    w.events()[start..]
        .iter()
        .filter_map(|e| match e {
            Event::LoginDenied { reason } => Some(*reason),
            _ => None,
        })
        .collect()
}

// A login made three fdatasynced appends (pin_verified, card_auth_passed, login_granted),
// one after the other: now they are one batch, one fdatasync.
#[test]
fn a_granted_login_is_one_fdatasync() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    // The first request may re-open nothing, but let the log settle first.
    assert_eq!(reason(&w.engine.probe(0, "juki-01", "alice")), "ready");
    let start = w.events().len();
    let before = w.syncs.load(SeqCst);
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert_eq!(w.syncs.load(SeqCst) - before, 1, "one fdatasync per login");
    assert_eq!(
        w.kinds_since(start),
        ["pin_verified", "card_auth_passed", "login_granted"]
    );
    // A wrong PIN, the same: its records in one batch.
    let before = w.syncs.load(SeqCst);
    assert_eq!(reason(&w.auth("alice", "Wrong999")), "wrong_pin");
    assert_eq!(w.syncs.load(SeqCst) - before, 1);
}

// A PIN change refused because the list was stale was answered but not recorded (a login
// refused for the same reason was).
#[test]
fn a_pin_change_refused_for_a_stale_list_is_recorded() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    w.clock.advance(2 * 86_400);
    let start = w.events().len();
    assert_eq!(
        reason(&change_pin(&w, PIN, "Kappa77x")),
        "revocation_list_stale"
    );
    assert_eq!(denials(&w, start), [DenyReason::RevocationListStale]);
}

// A PIN change with no card in the reader was answered `no_card` and not recorded (a login
// was). Its record names its own reason, `no_card` (issue 12: it was `card_removed`, as if a
// card had been pulled).
#[test]
fn a_pin_change_without_a_card_is_recorded() {
    let w = world();
    let start = w.events().len();
    assert_eq!(reason(&change_pin(&w, PIN, "Kappa77x")), "no_card");
    assert_eq!(denials(&w, start), [DenyReason::NoCard]);
}

// The card took the current PIN (and, when wrong, a try) and was pulled before it answered:
// the PIN change was answered `card_removed` with no record at all.
#[test]
fn a_pin_change_whose_card_left_mid_change_is_recorded() {
    let w = world();
    // How many APDUs a PIN change with a wrong current PIN takes: its last is the one that
    // spends the try.
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    w.cards.transcript.clear();
    assert_eq!(reason(&change_pin(&w, "Wrong999", "Kappa77x")), "wrong_pin");
    // The transaction seam's re-select (a SELECT) follows the change's own APDUs: the one that
    // spends the try is the last before it.
    let sent = w.cards.transcript.instructions();
    assert_eq!(
        sent.last(),
        Some(&cardgate_card::commands::ins::SELECT),
        "{sent:02X?}"
    );
    let apdus = sent.len() - 1;
    w.cards.pull(READER);
    // Again, the card pulled right after it processed that last APDU.
    w.cards.insert_with_faults(
        READER,
        card(&w.issuer, ALICE, "op-alice"),
        cardgate_sim::transport::Faults::new().pull_after(apdus - 1),
    );
    let start = w.events().len();
    let a = change_pin(&w, "Wrong999", "Kappa77x");
    assert_eq!(reason(&a), "card_removed", "{a:?}");
    assert_eq!(denials(&w, start), [DenyReason::CardRemoved]);
}

// Records first: a grant whose records cannot be written grants nothing, and leaves no
// `login_granted` in the log for the next open to find.
#[test]
fn a_grant_that_cannot_be_recorded_unlocks_nothing_and_reads_as_refused() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c1"),
        Answer::Granted { .. }
    ));
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    w.settle();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let granted_before = w
        .events()
        .iter()
        .filter(|e| matches!(e, Event::LoginGranted { .. }))
        .count();
    let calls_before = w.calls().len();
    w.faults.fail_syncs.store(true, SeqCst);
    assert_eq!(reason(&w.auth("alice", PIN)), "audit_unavailable");
    w.faults.fail_syncs.store(false, SeqCst);
    assert_eq!(
        w.calls().len(),
        calls_before,
        "no unlock without its record"
    );
    // The log re-opens at the next append; the refused grant is not in it.
    w.engine.card_inserted(READER);
    let granted_after = w
        .events()
        .iter()
        .filter(|e| matches!(e, Event::LoginGranted { .. }))
        .count();
    assert_eq!(granted_after, granted_before);
}

// Issue 12: a new PIN on the list of common passwords (or with a run, or the operator ID) was
// recorded as `bad_character`, a rule it did not break. Each refusal names its own rule.
#[test]
fn a_refused_new_pin_is_recorded_with_the_rule_it_broke() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    for (new, rule) in [
        ("trustno1", PinRule::Blocklisted),
        ("abcdef12", PinRule::RepeatOrRun),
        ("Tanuki", PinRule::NoDigit),
    ] {
        let start = w.events().len();
        assert_eq!(reason(&change_pin(&w, PIN, new)), "pin_policy", "{new}");
        let recorded: Vec<PinRule> = w.events()[start..]
            .iter()
            .filter_map(|e| match e {
                Event::PinRefusedByPolicy { rule } => Some(*rule),
                _ => None,
            })
            .collect();
        assert_eq!(recorded, [rule], "{new}");
    }
}
