//! `cardgated` killed with SIGKILL during a session: the session table in the state directory
//! and the resync at start keep removal locking (Windows' removal-policy service silently
//! stops locking after a restart).

use cardgate_tests::Office;
use cardgate_tests::PcscLab;

fn office_with_open_session() -> (Office, cardgate_tests::CardProcess, cardgate_tests::Daemon) {
    Office::standard(PcscLab::start().unwrap(), "")
        .unwrap()
        .with_open_session("s1")
        .unwrap()
}

#[test]
fn killed_and_restarted_during_a_session_then_the_card_removed_still_locks() {
    let (office, mut card, mut daemon) = office_with_open_session();
    daemon.kill9();
    let _daemon = office.start_daemon().unwrap();
    assert_eq!(office.sessions(), [("s1".to_owned(), "active".to_owned())]);
    assert!(!office
        .loginctl_calls()
        .iter()
        .any(|c| c.starts_with("lock-session")));
    card.remove().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
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
    assert!(office.loginctl_calls().is_empty(), "nobody locked it yet");
    let _daemon = office.start_daemon().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
    office.wait_for_session_state("s1", "locked");
    assert_eq!(office.count("session_locked"), 1);
    office.verify_audit();
}
