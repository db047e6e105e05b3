//! The security review's findings on the daemon's decisions (issue 11), in process: a
//! stand-in logind that can refuse, software cards in named readers, a real audit log. The
//! same findings are also tested through the real stack in `tests/faults/`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_audit::record::{EndReason, LockReason, LogindState, SessionType};
use cardgate_audit::Event;
use cardgate_card::commands::ins;
use cardgate_card::SecretString;
use cardgate_protocol::Answer;
use cardgate_sessiond::register::{CardEntry, CardState, RegisterFile};
use cardgate_sessiond::sessions::SessionState;
use common::*;
use time::macros::date;

fn open_session(w: &World, id: &str) {
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", "alice", id),
        Answer::Granted { .. }
    ));
}

fn count(w: &World, kind: &str) -> usize {
    w.events().iter().filter(|e| e.kind_name() == kind).count()
}

// Finding 3: a lock logind refused was recorded as `session_locked` and nothing else
// happened. Now the failure is recorded and the session is ended instead.
#[test]
fn a_lock_that_fails_is_recorded_as_failed_and_the_session_is_ended_instead() {
    let w = world();
    open_session(&w, "c1");
    w.actions.set_failing("lock-session", true);
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(
        w.calls(),
        [
            "lock-session c1",
            "lock-session c1",
            "lock-session c1",
            "terminate-session c1"
        ],
        "three tries, then the session is ended"
    );
    let events = w.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::SessionLocked { .. })),
        "a lock that never happened was recorded"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionLockFailed {
            reason: LockReason::CardRemoved,
            attempts: 3,
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            reason: EndReason::LockFailed,
            ..
        }
    )));
    assert!(w.engine.sessions().is_empty());
}

// Finding 3: an end that fails is recorded once, the session stays known (across a restart),
// and the daemon keeps trying until logind has ended it.
#[test]
fn an_end_that_fails_is_recorded_kept_and_tried_again_until_it_works() {
    let mut w = world_with("[session]\naction_retry_ms = 100\naction_attempts = 1\n");
    open_session(&w, "c2");
    w.actions.set_failing("terminate-session", true);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[ALICE], now + 86_400);
    w.engine.tick();
    assert_eq!(w.calls(), ["terminate-session c2"]);
    assert_eq!(count(&w, "session_end_failed"), 1);
    assert_eq!(count(&w, "session_ended"), 0);
    assert_eq!(w.engine.sessions()[0].state, SessionState::Ending);
    // Retried, and still failing: logged, not recorded again.
    std::thread::sleep(std::time::Duration::from_millis(150));
    w.engine.tick();
    assert_eq!(w.calls().len(), 2);
    assert_eq!(count(&w, "session_end_failed"), 1);
    // A restart still knows the session must end.
    w.restart().unwrap();
    w.actions.set_failing("terminate-session", false);
    w.engine.resync_sessions();
    assert_eq!(w.calls().last().unwrap(), "terminate-session c2");
    assert!(w.engine.sessions().is_empty());
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            reason: EndReason::Revoked,
            ..
        }
    )));
}

// Finding 3 (and issue 16: an unlock ran before its record): an unlock logind refused
// leaves the session locked, and says so.
#[test]
fn an_unlock_that_fails_leaves_the_session_locked_and_is_recorded() {
    let w = world_with("[session]\naction_attempts = 1\n");
    open_session(&w, "c3");
    let image = w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls(), ["lock-session c3"]);
    w.actions.set_failing("unlock-session", true);
    w.cards.insert(READER, image);
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert_eq!(w.calls().last().unwrap(), "unlock-session c3");
    assert_eq!(count(&w, "session_unlocked"), 0);
    assert_eq!(count(&w, "session_unlock_failed"), 1);
    assert_eq!(w.engine.sessions()[0].state, SessionState::Locked);
}

// Finding 4: every probe wrote an fdatasync'ed record. 2,000 probes with no card, and 800
// with a colleague's card from another local user, now write one refusal each, naming the
// requesting uid, and one count of what was held back when the window ends.
#[test]
fn repeated_refusals_are_written_once_per_window_name_the_uid_and_are_counted() {
    let w = world_with("[refusals]\nwindow_seconds = 60\n");
    let start = w.records().len();
    for _ in 0..2000 {
        assert_eq!(reason(&w.engine.probe(0, "juki-01", "alice")), "no_card");
    }
    w.cards.insert(READER, card(&w.issuer, BOB, "op-bob"));
    for _ in 0..800 {
        assert_eq!(
            reason(&w.engine.probe(1001, "juki-01", "alice")),
            "wrong_user"
        );
    }
    let written: Vec<_> = w.records().split_off(start);
    let denials: Vec<_> = written
        .iter()
        .filter(|r| matches!(r.event, Event::LoginDenied { .. }))
        .collect();
    assert_eq!(denials.len(), 2, "{written:?}");
    assert_eq!(denials[0].uid, Some(0));
    assert_eq!(denials[1].uid, Some(1001), "the record names who asked");
    assert_eq!(denials[1].operator.as_ref().unwrap().as_str(), "op-bob");
    // The window ends: what was held back is counted, per requesting uid.
    w.clock.advance(61);
    w.engine.tick();
    let held: Vec<(Option<u32>, u64)> = w
        .records()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::DenialsSuppressed { count, .. } => Some((r.uid, count)),
            _ => None,
        })
        .collect();
    assert_eq!(held, [(Some(0), 1999), (Some(1001), 799)]);
    // Wrong PINs are card uses: every one is written.
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let before = count(&w, "pin_verified");
    assert_eq!(reason(&w.auth("alice", "Wrong999")), "wrong_pin");
    assert_eq!(count(&w, "pin_verified"), before + 1);
}

#[test]
fn each_user_can_write_only_so_many_refusals_per_window() {
    let w = world_with("[refusals]\nper_user = 3\n");
    let start = w.records().len();
    // Different refusals (different cards) from one uid: three are written.
    for n in 0..10u8 {
        let serial = cardgate_card::cert::CardSerial([0xC0, 0, 0, 0, 0, 0, 0, n]);
        w.cards.insert(READER, card(&w.issuer, serial, "op-bob"));
        assert_eq!(
            reason(&w.engine.probe(1001, "juki-01", "alice")),
            "wrong_user"
        );
    }
    let denials = w.records()[start..]
        .iter()
        .filter(|r| matches!(r.event, Event::LoginDenied { .. }))
        .count();
    assert_eq!(denials, 3);
}

// Finding 8: a PIN change had no back-off, no business-hours check and no register check,
// and its wrong-PIN record was best-effort.
#[test]
fn a_pin_change_is_refused_outside_business_hours() {
    let w = world_with("[business_hours]\ndays = []\nstart = \"08:30\"\nend = \"17:15\"\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let a = w.engine.change_pin(
        0,
        "juki-01",
        "alice",
        &SecretString::from(PIN),
        &SecretString::from("Kappa77x"),
    );
    assert_eq!(reason(&a), "outside_business_hours");
    assert!(!w.cards.transcript.contains_ins(ins::CHANGE_REFERENCE_DATA));
}

#[test]
fn a_returned_card_cannot_change_its_pin() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    RegisterFile::new(&w.dir)
        .update(|r| {
            let mut e = CardEntry::lent(
                "op-alice",
                cardgate_card::cert::Role::Operator,
                0,
                date!(2099 - 03 - 31),
            );
            e.state = CardState::Returned { at: 1 };
            r.cards.insert(ALICE.to_string(), e);
        })
        .unwrap();
    let a = w.engine.change_pin(
        0,
        "juki-01",
        "alice",
        &SecretString::from(PIN),
        &SecretString::from("Kappa77x"),
    );
    assert_eq!(reason(&a), "returned");
    assert!(!w.cards.transcript.contains_ins(ins::CHANGE_REFERENCE_DATA));
}

#[test]
fn wrong_current_pins_in_a_pin_change_back_off_like_a_login() {
    let w = world_with(
        "[rate_limit]\nfree_failures = 1\nbase_delay_ms = 60000\nmax_delay_ms = 60000\n",
    );
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let change = |old: &str| {
        w.engine.change_pin(
            0,
            "juki-01",
            "alice",
            &SecretString::from(old),
            &SecretString::from("Kappa77x"),
        )
    };
    assert_eq!(reason(&change("Wrong999")), "wrong_pin");
    assert_eq!(reason(&change("Wrong999")), "wrong_pin");
    w.cards.transcript.clear();
    assert_eq!(reason(&change(PIN)), "rate_limited");
    assert!(!w.cards.transcript.contains_ins(ins::CHANGE_REFERENCE_DATA));
    // And a login with the same card waits too: one back-off for both.
    assert_eq!(reason(&w.auth("alice", PIN)), "rate_limited");
}

#[test]
fn a_wrong_current_pin_that_cannot_be_recorded_is_answered_as_such() {
    use std::sync::atomic::Ordering::SeqCst;
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    // Probe first, so that the log is open and the card presented, then the disk fails.
    assert_eq!(reason(&w.engine.probe(0, "juki-01", "alice")), "ready");
    w.faults.fail_syncs.store(true, SeqCst);
    let a = w.engine.change_pin(
        0,
        "juki-01",
        "alice",
        &SecretString::from("Wrong999"),
        &SecretString::from("Kappa77x"),
    );
    assert_eq!(reason(&a), "audit_unavailable", "{a:?}");
    w.faults.fail_syncs.store(false, SeqCst);
}

// Finding 8: `stale = "warn"` neither logged nor recorded its warning.
#[test]
fn a_stale_list_under_warn_is_recorded_once_per_version() {
    let w = world_cfg("warn", "");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&w.dir, &w.issuer, 2, &[], now - 10);
    w.engine.reload_revocation_if_changed();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    let stale: Vec<_> = w
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::RevocationListStale { version: 2, .. }))
        .collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
}

// Finding 8: a card swapped while the daemon was down left the session active (the resync
// only asked whether a card was present).
#[test]
fn a_card_swapped_while_the_daemon_was_down_locks_the_session_at_restart() {
    let mut w = world();
    open_session(&w, "c5");
    w.restart().unwrap();
    w.cards.pull(READER);
    w.cards.insert(READER, card(&w.issuer, BOB, "op-bob"));
    w.engine.resync_sessions();
    assert_eq!(w.calls(), ["lock-session c5"]);
    assert_eq!(w.engine.sessions()[0].state, SessionState::Locked);
}

#[test]
fn the_same_card_still_in_the_reader_after_a_restart_changes_nothing() {
    let mut w = world();
    open_session(&w, "c6");
    w.restart().unwrap();
    w.engine.resync_sessions();
    assert!(w.calls().is_empty());
    assert_eq!(w.engine.sessions()[0].state, SessionState::Active);
}

// A TTY name is no logind session: the removal lock would act on nothing.
#[test]
fn a_session_id_that_is_not_logind_s_is_refused() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));
    for bad in ["/dev/tty1", "pts/0", "tty1 ", "-x", ""] {
        assert_eq!(
            reason(&w.engine.open_session("juki-01", "alice", bad)),
            "bad_session_id"
        );
    }
}

// Issue 15: on a text console `lock-session` locks nothing (nothing listens to logind's
// `Lock`), yet `session_locked` was recorded. A session logind reports as `tty` is ended.
#[test]
fn a_console_session_has_no_locker_and_is_ended_on_removal() {
    let w = world();
    open_session(&w, "c3");
    w.actions.2.lock().unwrap().push("c3".into());
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls(), ["lock-session c3", "terminate-session c3"]);
    let events = w.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::SessionLocked { .. })),
        "a console lock was recorded as a lock"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            reason: EndReason::NoLocker,
            logind_state: Some(LogindState::Absent),
            ..
        }
    )));
    assert!(w.engine.sessions().is_empty());
}

// Issue 15: a graphical lock is recorded once logind's `LockedHint` confirms it.
#[test]
fn a_graphical_lock_is_recorded_as_confirmed_by_logind() {
    let w = world();
    open_session(&w, "c4");
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls(), ["lock-session c4"]);
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::SessionLocked {
            reason: LockReason::CardRemoved,
            session_type: Some(SessionType::X11),
            locked_hint: Some(true),
        }
    )));
    assert_eq!(w.engine.sessions()[0].state, SessionState::Locked);
}

// Issue 15: when logind's answer cannot be read, the lock is not confirmed: the session is
// ended, and the end counts only once logind is read back (until then it is retried).
#[test]
fn a_lock_logind_cannot_confirm_ends_the_session_once_logind_says_so() {
    let w = world_with(
        "[session]\nlock_confirm_ms = 200\naction_retry_ms = 100\naction_attempts = 1\n",
    );
    open_session(&w, "c5");
    w.actions.set_failing("show-session", true);
    w.cards.pull(READER);
    w.engine.card_removed(READER);
    assert_eq!(w.calls(), ["lock-session c5", "terminate-session c5"]);
    assert_eq!(count(&w, "session_locked"), 0);
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::SessionEndFailed {
            reason: EndReason::LockNotConfirmed,
            ..
        }
    )));
    assert_eq!(w.engine.sessions()[0].state, SessionState::Ending);
    w.actions.set_failing("show-session", false);
    std::thread::sleep(std::time::Duration::from_millis(150));
    w.engine.tick();
    w.settle();
    assert!(w.engine.sessions().is_empty());
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::SessionEnded {
            reason: EndReason::LockNotConfirmed,
            logind_state: Some(LogindState::Absent),
            ..
        }
    )));
}
