//! `cardgated` killed with SIGKILL during a session: the session table in the state directory
//! and the resync at start keep removal locking (Windows' removal-policy service silently
//! stops locking after a restart).

use crate::office::{Office, PIN, PUK};
use cardgate_tests::{PcscLab, SoftCardFile};

fn office_with_open_session() -> (Office, cardgate_tests::CardProcess, crate::office::Daemon) {
    let office = Office::single(PcscLab::start().unwrap(), "");
    let card =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let inserted = office.lab.serve_card(0, &card, None).unwrap();
    office.lab.wait_for_card(0).unwrap();
    let daemon = office.start_daemon();
    assert_eq!(
        office.authenticate("juki-01", "tanaka", PIN)["result"],
        "granted"
    );
    assert_eq!(
        office.open_session("juki-01", "tanaka", "s1")["result"],
        "granted"
    );
    (office, inserted, daemon)
}

#[test]
fn killed_and_restarted_during_a_session_then_the_card_removed_still_locks() {
    let (office, mut card, mut daemon) = office_with_open_session();
    daemon.kill9();
    let _daemon = office.start_daemon();
    assert_eq!(office.sessions(), [("s1".to_owned(), "active".to_owned())]);
    assert!(!office.calls().iter().any(|c| c.starts_with("lock-session")));
    card.remove().unwrap();
    office.wait_for_call("lock-session s1");
    office.wait_for_session_state("s1", "locked");
    // The crash left no torn record behind that the log would not account for.
    office.verify_audit();
}

#[test]
fn a_card_removed_while_the_daemon_was_down_is_locked_at_restart() {
    let (office, mut card, mut daemon) = office_with_open_session();
    daemon.kill9();
    card.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();
    assert!(office.calls().is_empty(), "nobody locked it yet");
    let _daemon = office.start_daemon();
    office.wait_for_call("lock-session s1");
    office.wait_for_session_state("s1", "locked");
    assert_eq!(office.count("session_locked"), 1);
    office.verify_audit();
}
