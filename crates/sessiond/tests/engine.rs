//! The daemon's decisions, in process: software cards in named readers, a real audit log in
//! a temporary directory, and a recording stand-in for `loginctl`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_audit::record::DenyReason;
use cardgate_audit::Event;
use cardgate_card::cert::Role;
use cardgate_card::commands::ins;
use cardgate_card::revocation::RevocationReason;
use cardgate_card::SecretString;
use cardgate_protocol::Answer;
use cardgate_sessiond::register::{CardEntry, RegisterFile};
use cardgate_sessiond::sessions::SessionState;
use common::*;
use time::macros::date;

#[test]
fn the_right_card_and_pin_are_granted_and_every_step_is_recorded() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let start = w.events().len();
    let a = w.auth("alice", PIN);
    assert!(
        matches!(&a, Answer::Granted { operator, .. } if operator == "op-alice"),
        "{a:?}"
    );
    assert_eq!(
        w.kinds_since(start),
        vec!["pin_verified", "card_auth_passed", "login_granted"]
    );
    for (_, path) in cardgate_audit::segments::list_segments(&w.dir.join("audit")).unwrap() {
        let log = std::fs::read_to_string(path).unwrap();
        assert!(!log.contains(PIN), "the PIN reached the audit log");
    }
}

#[test]
fn another_operators_card_is_refused_before_the_pin() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, BOB, "op-bob"));
    let start = w.events().len();
    assert_eq!(reason(&w.auth("alice", PIN)), "wrong_user");
    assert!(!w.cards.transcript.contains_ins(ins::VERIFY));
    assert_eq!(w.kinds_since(start), vec!["login_denied"]);
}

#[test]
fn wrong_pins_count_down_then_block_with_clear_answers() {
    let w = world_with("[rate_limit]\nfree_failures = 5\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    for left in [2u8, 1] {
        match w.auth("alice", "Wrong999") {
            Answer::Denied {
                code,
                tries_left,
                message,
            } => {
                assert_eq!((code.as_str(), tries_left), ("wrong_pin", Some(left)));
                assert!(message.contains(&format!("{left} tries left")), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(reason(&w.auth("alice", "Wrong999")), "pin_blocked");
    let a = w.auth("alice", PIN);
    assert_eq!(reason(&a), "pin_blocked");
    assert!(matches!(&a, Answer::Denied { message, .. } if message.contains("access manager")));
    // PAM probes before it prompts: a blocked card is told before anyone types a PIN.
    w.cards.transcript.clear();
    assert_eq!(
        reason(&w.engine.probe(0, "juki-01", "alice")),
        "pin_blocked"
    );
    let sent_pin = w
        .cards
        .transcript
        .exchanges()
        .iter()
        .any(|e| e.ins() == Some(ins::VERIFY) && e.command.len() > 5);
    assert!(!sent_pin, "a PIN went to the card during the probe");
    assert!(
        w.cards.transcript.contains_ins(ins::VERIFY),
        "the probe did not ask the card"
    );
    assert!(w.events().iter().any(|e| matches!(e, Event::PinBlocked)));
}

#[test]
fn wrong_pins_are_rate_limited_on_top_of_the_card_counter() {
    let w = world_with(
        "[rate_limit]\nfree_failures = 1\nbase_delay_ms = 60000\nmax_delay_ms = 60000\n",
    );
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert_eq!(reason(&w.auth("alice", "Wrong999")), "wrong_pin");
    assert_eq!(reason(&w.auth("alice", "Wrong999")), "wrong_pin");
    w.cards.transcript.clear();
    assert_eq!(reason(&w.auth("alice", PIN)), "rate_limited");
    assert!(
        !w.cards.transcript.contains_ins(ins::VERIFY),
        "a rate-limited attempt reached the card"
    );
}

#[test]
fn a_revoked_card_is_refused_before_the_pin_and_recorded() {
    let w = world();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[ALICE], now + 86_400);
    w.engine.reload_revocation_if_changed();
    assert_eq!(w.engine.revocation_version(), Some(2));
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "revoked");
    assert!(!w.cards.transcript.contains_ins(ins::VERIFY));
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::RevokedCardPresented {
            reason: RevocationReason::Lost
        }
    )));
}

#[test]
fn a_returned_card_in_the_register_is_refused() {
    let w = world();
    RegisterFile::new(&w.dir)
        .update(|r| {
            let mut e = CardEntry::lent("op-alice", Role::Operator, 0, date!(2099 - 03 - 31));
            e.state = cardgate_sessiond::register::CardState::Returned { at: 1 };
            r.cards.insert(ALICE.to_string(), e);
        })
        .unwrap();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "returned");
    assert!(!w.cards.transcript.contains_ins(ins::VERIFY));
}

#[test]
fn a_stale_list_refuses_by_default_and_warns_when_configured() {
    let w = world();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[], now - 1);
    w.engine.reload_revocation_if_changed();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "revocation_list_stale");
    assert!(!w.cards.transcript.contains_ins(ins::SELECT));

    let w = world_cfg("warn", "");
    write_list(&w.dir, &w.issuer, 2, &[], now - 1);
    w.engine.reload_revocation_if_changed();
    assert_eq!(w.engine.revocation_version(), Some(2));
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
}

#[test]
fn an_unwritable_audit_log_refuses_the_login_and_the_daemon_resumes_by_itself() {
    use std::sync::atomic::Ordering::SeqCst;
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    // EIO on fsync: the writer stops; logins are refused.
    w.faults.fail_syncs.store(true, SeqCst);
    let a = w.auth("alice", PIN);
    assert_eq!(reason(&a), "audit_unavailable", "{a:?}");
    // The disk is fine again: the next login re-opens the log and goes through.
    w.faults.fail_syncs.store(false, SeqCst);
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    // Disk full (ENOSPC on write), then space freed.
    w.faults.space_left.store(10, SeqCst);
    assert_eq!(reason(&w.auth("alice", PIN)), "audit_unavailable");
    w.faults.space_left.store(u64::MAX, SeqCst);
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    // EIO on write.
    w.faults.fail_writes.store(true, SeqCst);
    assert_eq!(reason(&w.auth("alice", PIN)), "audit_unavailable");
    w.faults.fail_writes.store(false, SeqCst);
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    // Nothing acknowledged was lost: the log verifies.
    w.audit.close().unwrap();
    let outcome = cardgate_audit::verify_dir(&w.dir.join("audit"), None, &mut |_, _| {}).unwrap();
    assert!(outcome.is_intact(), "{:?}", outcome.problem);
    let granted = w
        .events()
        .iter()
        .filter(|e| matches!(e, Event::LoginGranted { .. }))
        .count();
    assert_eq!(granted, 3);
}

#[test]
fn initial_pin_must_be_changed_before_a_session_opens() {
    let w = world();
    RegisterFile::new(&w.dir)
        .update(|r| {
            r.cards.insert(
                ALICE.to_string(),
                CardEntry::lent("op-alice", Role::Operator, 0, date!(2099 - 03 - 31)),
            );
        })
        .unwrap();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(
        w.auth("alice", PIN),
        Answer::Granted {
            must_change_pin: true,
            ..
        }
    ));
    assert_eq!(
        reason(&w.engine.open_session("juki-01", "alice", "c7")),
        "must_change_pin"
    );
    // A weak new PIN is refused with the policy's message, a good one accepted.
    let weak = w.engine.change_pin(
        0,
        "juki-01",
        "alice",
        &SecretString::from(PIN),
        &SecretString::from("abc123"),
    );
    assert!(
        matches!(&weak, Answer::Denied { code, message, .. } if code.as_str() == "pin_policy" && message.contains("run")),
        "{weak:?}"
    );
    let ok = w.engine.change_pin(
        0,
        "juki-01",
        "alice",
        &SecretString::from(PIN),
        &SecretString::from("Hanami2027"),
    );
    assert!(matches!(ok, Answer::Granted { .. }), "{ok:?}");
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c7"),
        Answer::Granted { .. }
    ));
    assert!(w.events().iter().any(|e| matches!(e, Event::PinChanged)));
    assert!(
        !RegisterFile::new(&w.dir)
            .read()
            .unwrap()
            .get(&ALICE)
            .unwrap()
            .must_change_pin
    );
}

#[test]
fn removal_locks_reinsertion_of_the_same_card_unlocks_another_card_cannot() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c7"),
        Answer::Granted { .. }
    ));
    let alice_card = w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls().as_slice(), ["lock-session c7"]);
    assert_eq!(w.engine.sessions()[0].state, SessionState::Locked);
    assert!(w
        .events()
        .iter()
        .any(|e| matches!(e, Event::SessionLocked { .. })));

    // Another card with a mapping to alice (say, a second card lent to her by mistake) does
    // not unlock the session opened with the first.
    w.cards.insert(READER, card(&w.issuer, BOB, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "other_card");
    w.cards.pull(READER);

    w.cards.insert(READER, alice_card);
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert_eq!(w.calls().last().unwrap(), "unlock-session c7");
    assert_eq!(w.engine.sessions()[0].state, SessionState::Active);
}

#[test]
fn a_newly_revoked_card_ends_its_session_at_once() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c9"),
        Answer::Granted { .. }
    ));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[ALICE], now + 86_400);
    w.engine.tick();
    assert_eq!(w.calls().as_slice(), ["terminate-session c9"]);
    assert!(w.engine.sessions().is_empty());
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            reason: cardgate_audit::record::EndReason::Revoked,
            ..
        }
    )));
    // An older list (rollback) or a torn file does not bring the card back.
    write_list(&w.dir, &w.issuer, 1, &[], now + 86_400);
    w.engine.tick();
    assert_eq!(w.engine.revocation_version(), Some(2));
    let bytes = std::fs::read(w.dir.join("revoked.crl")).unwrap();
    std::fs::write(w.dir.join("revoked.crl"), &bytes[..bytes.len() / 2]).unwrap();
    w.engine.tick();
    assert_eq!(w.engine.revocation_version(), Some(2));
    assert_eq!(reason(&w.auth("alice", PIN)), "revoked");
}

#[test]
fn a_user_cannot_end_another_users_session() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c5"),
        Answer::Granted { .. }
    ));
    let a = w.engine.close_session("bob", "c5");
    assert!(
        matches!(&a, Answer::Error { message } if message.contains("another user")),
        "{a:?}"
    );
    assert_eq!(w.engine.sessions().len(), 1, "bob removed alice's session");
    // Pulling the card still locks it.
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls().as_slice(), ["lock-session c5"]);
    assert!(matches!(
        w.engine.close_session("alice", "c5"),
        Answer::Granted { .. }
    ));
    assert!(w.engine.sessions().is_empty());
}

#[test]
fn the_accepted_record_is_written_versioned_and_a_newer_format_stops_a_restart() {
    let mut w = world();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[ALICE], now + 86_400);
    w.engine.tick();
    assert_eq!(w.engine.revocation_version(), Some(2));
    let path = w.dir.join(cardgate_sessiond::engine::ACCEPTED_FILE);
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with("format 1\n2 "), "{written:?}");
    // A record from a newer cardgate (after a downgrade) is not misread: the daemon does not
    // start, and says which file and which version.
    let newer = written.replacen("format 1", "format 2", 1);
    std::fs::write(&path, newer).unwrap();
    let err = w.restart().unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("format version 2"),
        "{err}"
    );
}

#[test]
fn an_older_list_is_refused_even_after_a_restart() {
    let mut w = world();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[ALICE], now + 86_400);
    w.engine.tick();
    assert_eq!(w.engine.revocation_version(), Some(2));
    // Someone puts the old, validly signed list (without the revocation) back and restarts.
    write_list(&w.dir, &w.issuer, 1, &[], now + 86_400);
    w.restart().unwrap();
    assert_eq!(
        w.engine.revocation_version(),
        None,
        "the rolled-back list was accepted"
    );
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "revocation_list_unavailable");
    // A newer list is taken.
    write_list(&w.dir, &w.issuer, 3, &[ALICE], now + 86_400);
    w.engine.tick();
    assert_eq!(w.engine.revocation_version(), Some(3));
    assert_eq!(reason(&w.auth("alice", PIN)), "revoked");
    // A damaged record of the accepted version stops the daemon from starting.
    std::fs::write(
        w.dir.join(cardgate_sessiond::engine::ACCEPTED_FILE),
        "three",
    )
    .unwrap();
    assert!(w.restart().is_err());
}

#[test]
fn on_removal_end_terminates_and_a_restart_locks_sessions_whose_card_left_meanwhile() {
    let w = world_with("[session]\non_removal = \"end\"\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c1"),
        Answer::Granted { .. }
    ));
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls().as_slice(), ["terminate-session c1"]);
    assert!(w.engine.sessions().is_empty());

    // Lock mode; the daemon dies, the card is pulled while it is down, the daemon restarts.
    let mut w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c2"),
        Answer::Granted { .. }
    ));
    w.cards.pull(READER);
    w.restart().unwrap();
    assert!(w.calls().is_empty());
    w.engine.resync_sessions();
    assert_eq!(w.calls().as_slice(), ["lock-session c2"]);
}

#[test]
fn outside_business_hours_logins_are_refused_and_open_sessions_lock() {
    // Open every day, all day: the login goes through and a session opens.
    let w = world_with("[business_hours]\ndays = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\",\"sun\"]\nstart = \"00:00\"\nend = \"24:00\"\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));

    // Open on no day at all: refused before the PIN reaches the card, and open sessions
    // lock. The record says why (not "not authorised here"), at which terminal, and whose
    // card it was (its certificate read without a PIN, signed by this office's issuer).
    let w = world_with("[business_hours]\ndays = []\nstart = \"08:30\"\nend = \"17:15\"\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "outside_business_hours");
    assert!(!w.cards.transcript.contains_ins(ins::VERIFY));
    let denied = w.records().into_iter().last().unwrap();
    assert_eq!(
        denied.event,
        Event::LoginDenied {
            reason: DenyReason::OutsideBusinessHours
        }
    );
    assert_eq!(denied.terminal.as_str(), "juki-01");
    assert_eq!(denied.card, Some(ALICE));
    assert_eq!(
        denied.operator.as_ref().map(|o| o.as_str()),
        Some("op-alice")
    );
    // A card of another issuer is not named: it could claim anyone's operator ID.
    let stranger = cardgate_card::IssuerKey::generate().unwrap();
    w.cards.pull(READER);
    w.cards.insert(READER, card(&stranger, BOB, "op-alice"));
    assert_eq!(reason(&w.auth("alice", PIN)), "outside_business_hours");
    let denied = w.records().into_iter().last().unwrap();
    assert_eq!((denied.card, denied.operator), (None, None));
    let mut sessions = cardgate_sessiond::sessions::SessionTable::load(&w.dir).unwrap();
    sessions
        .open(cardgate_sessiond::sessions::Session {
            session_id: "c8".into(),
            terminal: "juki-01".into(),
            reader: READER.into(),
            user: "alice".into(),
            operator_id: "op-alice".into(),
            serial: ALICE.to_string(),
            opened_at: 0,
            verified_at: 0,
            state: SessionState::Active,
            end_reason: None,
            boot_id: String::new(),
        })
        .unwrap();
    let mut w = w;
    w.restart().unwrap();
    w.engine.tick();
    assert_eq!(w.calls().as_slice(), ["lock-session c8"]);
}

#[test]
fn a_card_left_in_the_reader_too_long_locks_its_session() {
    let w = world_with("[session]\nreverify_after_seconds = 1\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c4"),
        Answer::Granted { .. }
    ));
    w.engine.tick();
    assert!(w.calls().is_empty());
    w.clock.advance(2);
    w.engine.tick();
    assert_eq!(w.calls().as_slice(), ["lock-session c4"]);
    // The PIN again unlocks it.
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert_eq!(w.calls().last().unwrap(), "unlock-session c4");
}

#[test]
fn the_clock_stepped_forwards_and_backwards() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    w.cards.transcript.clear();
    // Two days forward: the list (next update in one day) is stale; logins are refused.
    w.clock.advance(2 * 86_400);
    assert_eq!(reason(&w.auth("alice", PIN)), "revocation_list_stale");
    // Far forward, with a fresh list: the card (valid until 2099-03-31) has expired.
    let far = (date!(2099 - 04 - 01)
        .midnight()
        .assume_utc()
        .unix_timestamp())
        - time::OffsetDateTime::now_utc().unix_timestamp();
    w.clock.advance(far - 2 * 86_400);
    let now = w.clock_now();
    write_list(&w.dir, &w.issuer, 2, &[], now + 86_400);
    w.engine.tick();
    assert_eq!(reason(&w.auth("alice", PIN)), "expired");
    // Far backwards: before the card's first day (2025-04-01).
    let back = date!(2025 - 03 - 01)
        .midnight()
        .assume_utc()
        .unix_timestamp()
        - now;
    w.clock.advance(back);
    assert_eq!(reason(&w.auth("alice", PIN)), "not_yet_valid");
    // None of the refusals sent the PIN.
    assert!(!w.cards.transcript.contains_ins(ins::VERIFY));
}

#[test]
fn a_card_returned_in_the_register_ends_its_session_and_is_recorded_as_presented() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c6"),
        Answer::Granted { .. }
    ));
    w.engine.tick();
    RegisterFile::new(&w.dir)
        .update(|r| {
            let mut e = CardEntry::lent("op-alice", Role::Operator, 0, date!(2099 - 03 - 31));
            e.state = cardgate_sessiond::register::CardState::Returned { at: 1 };
            r.cards.insert(ALICE.to_string(), e);
        })
        .unwrap();
    w.engine.tick();
    assert_eq!(w.calls().as_slice(), ["terminate-session c6"]);
    assert_eq!(reason(&w.auth("alice", PIN)), "returned");
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::RevokedCardPresented {
            reason: RevocationReason::Returned
        }
    )));
}

/// The admin records are written only from the operation's evidence: the card in the reader,
/// the register, the signed list, all of them recent (see `engine/admin.rs`).
#[test]
fn admin_records_need_the_operations_own_evidence() {
    use cardgate_protocol::{AdminRequest, Serial};
    use cardgate_sessiond::register::CardState;
    let w = world();
    let register = RegisterFile::new(&w.dir);
    let recorded = |a: &Answer| matches!(a, Answer::Info { .. });
    let refusal = |a: &Answer| match a {
        Answer::Error { message } => message.clone(),
        other => panic!("recorded: {other:?}"),
    };
    // The access manager's card, in its own reader.
    const MANAGER_READER: &str = "Manager Reader 00 00";
    let manager = cardgate_card::CardSerial([0x4D; 8]);
    let mut manager_card = manager_request(manager);
    w.cards.insert(
        MANAGER_READER,
        cardgate_sim::create_card(
            &w.issuer,
            &cardgate_card::Puk::parse(PUK).unwrap(),
            &cardgate_card::Pin::parse(PIN).unwrap(),
            &manager_card,
        )
        .unwrap(),
    );
    let with_manager = std::cell::Cell::new(true);
    let issued = |serial: &str, operator: &str, role: &str| {
        let m = with_manager.get();
        w.engine.admin_record(
            1001,
            Some("yamada"),
            AdminRequest::CardIssued {
                serial: serial.parse().unwrap(),
                operator: operator.into(),
                role: role.parse().unwrap(),
                reader: READER.into(),
                manager: m.then_some(Serial(manager.0)),
                manager_reader: m.then(|| MANAGER_READER.to_owned()),
            },
        )
    };
    let unblocked = || {
        w.engine.admin_record(
            1001,
            Some("yamada"),
            AdminRequest::PinUnblocked {
                serial: Serial(ALICE.0),
                reader: READER.into(),
                manager: Some(Serial(manager.0)),
                manager_reader: Some(MANAGER_READER.into()),
            },
        )
    };
    let revoked = |reason: &str| {
        w.engine.admin_record(
            1001,
            Some("yamada"),
            AdminRequest::CardRevoked {
                serial: Serial(ALICE.0),
                reason: reason.parse().unwrap(),
            },
        )
    };
    let start = w.events().len();
    let alice = ALICE.to_string();

    // No card in the reader, then a card the register does not lend.
    assert!(refusal(&issued(&alice, "op-alice", "operator")).contains("no card"));
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(refusal(&issued(&alice, "op-alice", "operator")).contains("does not list"));
    let now = w.clock_now();
    register
        .update(|r| {
            r.cards.insert(
                alice.clone(),
                CardEntry::lent("op-alice", Role::Operator, now, date!(2099 - 03 - 31)),
            );
        })
        .unwrap();
    // Another card, another operator, another role: refused; the real one: recorded.
    let bob = BOB.to_string();
    assert!(refusal(&issued(&bob, "op-alice", "operator")).contains(&alice));
    assert!(refusal(&issued(&alice, "op-bob", "operator")).contains(&alice));
    assert!(refusal(&issued(&alice, "op-alice", "manager")).contains(&alice));
    // Without the access manager's card, or with an operator's card in its place: refused.
    with_manager.set(false);
    assert!(refusal(&issued(&alice, "op-alice", "operator")).contains("no access manager"));
    with_manager.set(true);
    manager_card.role = Role::Operator;
    w.cards.insert(
        MANAGER_READER,
        cardgate_sim::create_card(
            &w.issuer,
            &cardgate_card::Puk::parse(PUK).unwrap(),
            &cardgate_card::Pin::parse(PIN).unwrap(),
            &manager_card,
        )
        .unwrap(),
    );
    assert!(refusal(&issued(&alice, "op-alice", "operator")).contains("not an access manager"));
    manager_card.role = Role::AccessManager;
    w.cards.insert(
        MANAGER_READER,
        cardgate_sim::create_card(
            &w.issuer,
            &cardgate_card::Puk::parse(PUK).unwrap(),
            &cardgate_card::Pin::parse(PIN).unwrap(),
            &manager_card,
        )
        .unwrap(),
    );
    assert!(recorded(&issued(&alice, "op-alice", "operator")));
    // A card of a foreign issuer with the same serial: refused.
    let foreign = cardgate_card::IssuerKey::generate().unwrap();
    w.cards.insert(READER, card(&foreign, ALICE, "op-alice"));
    assert!(refusal(&issued(&alice, "op-alice", "operator")).contains("issuer"));
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));

    // An unblocking the register does not know of; then one it does.
    assert!(refusal(&unblocked()).contains("no unblocking"));
    register
        .update(|r| r.get_mut(&ALICE).unwrap().unblocked_at = Some(now))
        .unwrap();
    assert!(recorded(&unblocked()));
    // A card whose PIN is still blocked.
    let mut blocked = card(&w.issuer, ALICE, "op-alice");
    {
        let mut c = cardgate_card::OperatorCard::new(cardgate_sim::SimTransport::new(
            cardgate_sim::SoftCard::in_memory(blocked.clone()),
        ));
        c.select().unwrap();
        while c
            .verify_pin(&cardgate_card::Pin::parse("Wrong9999").unwrap())
            .unwrap()
            != cardgate_card::Verification::Blocked
        {}
        blocked = c.into_transport().into_card().into_image();
    }
    w.cards.insert(READER, blocked);
    assert!(refusal(&unblocked()).contains("still blocked"));

    // A revocation the signed list does not show; one the register does not agree with; one
    // both show.
    assert!(refusal(&revoked("lost")).contains("does not list it"));
    write_list(&w.dir, &w.issuer, 2, &[ALICE], now + 86_400);
    assert!(refusal(&revoked("lost")).contains("register does not agree"));
    assert!(refusal(&revoked("stolen")).contains("lists it as lost"));
    register
        .update(|r| {
            r.get_mut(&ALICE).unwrap().state = CardState::Revoked {
                at: now,
                reason: RevocationReason::Lost,
            }
        })
        .unwrap();
    assert!(recorded(&revoked("lost")));
    // Nor may a withdrawn card be "issued" again by a record.
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(refusal(&issued(&alice, "op-alice", "operator")).contains("no longer lent"));
    // A replay of the real revocation, eleven minutes later.
    w.clock.advance(660);
    assert!(refusal(&revoked("lost")).contains("s ago"));

    assert_eq!(
        w.kinds_since(start),
        vec!["card_issued", "pin_unblocked", "card_revoked"]
    );
    let by = w.events().into_iter().find_map(|e| match e {
        Event::CardIssued { by, .. } => Some(by),
        _ => None,
    });
    assert_eq!(
        by.unwrap().as_str(),
        "uid 1001 (yamada), manager card 4D4D4D4D4D4D4D4D"
    );
}

/// The access manager's card, valid 2025–2099.
fn manager_request(serial: cardgate_card::CardSerial) -> cardgate_card::issue::IssueRequest {
    cardgate_card::issue::IssueRequest {
        serial,
        operator_id: "mgr-yamada".into(),
        role: Role::AccessManager,
        valid_from: date!(2025 - 04 - 01),
        valid_until: date!(2099 - 03 - 31),
    }
}

// Issue 12: every record about a terminal named the host (the writer's label), and an unlock
// after a pull and reinsert was recorded as a second `login_granted`: the review counted two
// logins and a session that never ended.
#[test]
fn records_name_the_terminal_and_an_unlock_is_not_a_login() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", "c5"),
        Answer::Granted { .. }
    ));
    let image = w.cards.pull(READER);
    w.engine.card_removed(READER);
    w.settle();
    w.cards.insert(READER, image);
    w.engine.card_inserted(READER);
    assert_eq!(reason(&w.auth("alice", "Wrong9999")), "wrong_pin");
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    w.settle();
    assert_eq!(w.calls().last().unwrap(), "unlock-session c5");
    // The unlock opened no session: an `open_session` now has no login to go with.
    assert_eq!(
        reason(&w.engine.open_session("juki-01", "alice", "c6")),
        "not_authenticated"
    );
    assert!(matches!(
        w.engine.close_session("alice", "c5"),
        Answer::Granted { .. }
    ));
    let records = w.records();
    let kinds: Vec<&str> = records.iter().map(|r| r.event.kind_name()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "login_granted").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "session_unlocked").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "session_ended").count(),
        1,
        "{kinds:?}"
    );
    for r in &records {
        let about_terminal = r.reader.is_some() || r.card.is_some();
        let expected = if about_terminal { "juki-01" } else { HOST };
        assert_eq!(r.terminal.as_str(), expected, "{r:?}");
    }
    assert!(
        records
            .iter()
            .filter(|r| r.terminal.as_str() == "juki-01")
            .count()
            >= 10,
        "{kinds:?}"
    );
}
