//! Card removal against what logind reports (issue 15), through the real stack: a private
//! pcscd with vpcd readers, a `cardgate-sim serve` card, `cardgated` as its own process, and
//! the office's stand-in `loginctl`, whose `show-session` answers the session type, state and
//! `LockedHint` each test sets. The stand-in is what the lab has; the booted Debian guest
//! (`tests/vm/`) has the real logind.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_audit::record::{EndReason, LockReason, LogindState, SessionType};
use cardgate_audit::{Event, Record};
use cardgate_tests::fixtures::{PIN, USER};
use cardgate_tests::{CardProcess, Daemon, Office, PcscLab};
use std::time::{Duration, Instant};

fn records(office: &Office) -> Vec<Record> {
    office
        .audit_lines()
        .iter()
        .map(|l| Record::parse(l.as_bytes()).unwrap())
        .collect()
}

fn wait_for_kind(office: &Office, kind: &str) {
    let start = Instant::now();
    while office.count(kind) == 0 {
        assert!(
            start.elapsed() < cardgate_tests::LIMIT,
            "no {kind} record: {:?}",
            office.audit_kinds()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The one `session_ended` record's fields.
fn ended(office: &Office) -> (EndReason, Option<SessionType>, Option<LogindState>) {
    let ends: Vec<_> = records(office)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::SessionEnded {
                reason,
                session_type,
                logind_state,
            } => Some((reason, session_type, logind_state)),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 1, "{:?}", office.audit_kinds());
    ends[0]
}

/// One terminal, the card in its reader, session `id` open, logind saying it is `kind`.
fn session(id: &str, kind: &str, extra: &str) -> (Office, CardProcess, Daemon) {
    let office = Office::standard(PcscLab::start().unwrap(), extra).unwrap();
    office.logind_session_type(id, kind);
    office.with_open_session(id).unwrap()
}

#[test]
fn a_console_session_is_ended_on_removal_because_it_has_no_locker() {
    let (office, mut card, _daemon) = session("c7", "tty", "");
    card.remove().unwrap();
    office.wait_for_call("terminate-session c7").unwrap();
    wait_for_kind(&office, "session_ended");
    let kinds = office.audit_kinds();
    assert!(
        !kinds.iter().any(|k| k == "session_locked"),
        "a console lock that holds nothing was recorded as a lock: {kinds:?}"
    );
    assert_eq!(
        ended(&office),
        (
            EndReason::NoLocker,
            Some(SessionType::Tty),
            Some(LogindState::Closing)
        )
    );
    assert_eq!(
        office.loginctl_calls(),
        ["lock-session c7", "terminate-session c7"]
    );
    assert!(office.sessions().is_empty());
}

#[test]
fn an_unspecified_session_has_no_locker_either() {
    // What `systemd-run -p PAMName=…` makes, or a PAM service that sets no type.
    let (office, mut card, _daemon) = session("u8", "unspecified", "");
    card.remove().unwrap();
    wait_for_kind(&office, "session_ended");
    assert_eq!(ended(&office).0, EndReason::NoLocker);
    assert_eq!(office.count("session_locked"), 0);
}

#[test]
fn a_graphical_session_whose_locker_sets_the_hint_is_recorded_locked_as_logind_confirms() {
    let (office, mut card, _daemon) = session("x9", "x11", "");
    card.remove().unwrap();
    wait_for_kind(&office, "session_locked");
    let locked: Vec<_> = records(&office)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::SessionLocked {
                reason,
                session_type,
                locked_hint,
            } => Some((reason, session_type, locked_hint)),
            _ => None,
        })
        .collect();
    assert_eq!(
        locked,
        [(LockReason::CardRemoved, Some(SessionType::X11), Some(true))]
    );
    assert!(office.logind_reads("x9") >= 1);
    assert_eq!(office.loginctl_calls(), ["lock-session x9"]);
    assert_eq!(office.sessions(), [("x9".to_owned(), "locked".to_owned())]);
}

#[test]
fn a_graphical_session_whose_locker_does_not_confirm_is_ended_and_the_record_says_so() {
    let (office, mut card, _daemon) = session("w3", "wayland", "lock_confirm_ms = 600\n");
    office.logind_no_locker("w3", true);
    let pulled = Instant::now();
    card.remove().unwrap();
    office.wait_for_call("terminate-session w3").unwrap();
    assert!(
        pulled.elapsed() >= Duration::from_millis(600),
        "ended before the locker's time was up"
    );
    wait_for_kind(&office, "session_ended");
    assert_eq!(
        office.count("session_locked"),
        0,
        "{:?}",
        office.audit_kinds()
    );
    assert_eq!(
        ended(&office),
        (
            EndReason::LockNotConfirmed,
            Some(SessionType::Wayland),
            Some(LogindState::Closing)
        )
    );
    // LockedHint was read more than once while the daemon waited.
    assert!(
        office.logind_reads("w3") > 2,
        "{}",
        office.logind_reads("w3")
    );
    assert!(office.sessions().is_empty());
}

#[test]
fn an_end_that_logind_does_not_carry_out_is_retried_and_the_session_stays_in_the_table() {
    let (office, mut card, _daemon) =
        session("t4", "tty", "action_attempts = 1\naction_retry_ms = 300\n");
    office.logind_session_stays("t4", true);
    card.remove().unwrap();
    wait_for_kind(&office, "session_end_failed");
    assert_eq!(office.count("session_ended"), 0);
    let failed = records(&office)
        .into_iter()
        .find_map(|r| match r.event {
            Event::SessionEndFailed { reason, error, .. } => Some((reason, error)),
            _ => None,
        })
        .unwrap();
    assert_eq!(failed.0, EndReason::NoLocker);
    assert!(
        failed.1.as_str().contains("still reports the session open"),
        "{}",
        failed.1.as_str()
    );
    assert_eq!(office.sessions(), [("t4".to_owned(), "ending".to_owned())]);
    // Tried again (the daemon's tick), still there: still in the table, not recorded again.
    let start = Instant::now();
    while office
        .loginctl_calls()
        .iter()
        .filter(|c| *c == "terminate-session t4")
        .count()
        < 2
    {
        assert!(start.elapsed() < cardgate_tests::LIMIT, "not retried");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(office.sessions(), [("t4".to_owned(), "ending".to_owned())]);
    assert_eq!(office.count("session_end_failed"), 1);
    // logind ends it at last: the next try sees it closing and records the end.
    office.logind_session_stays("t4", false);
    wait_for_kind(&office, "session_ended");
    assert_eq!(
        ended(&office),
        (
            EndReason::NoLocker,
            Some(SessionType::Tty),
            Some(LogindState::Closing)
        )
    );
    assert!(office.sessions().is_empty());
}

#[test]
fn with_on_removal_end_an_end_that_does_not_take_is_not_recorded_as_an_end() {
    // Before issue 15 `terminate-session`'s exit status alone made the end.
    let (office, mut card, _daemon) = session(
        "e5",
        "x11",
        "on_removal = \"end\"\naction_attempts = 1\naction_retry_ms = 300\n",
    );
    office.logind_session_stays("e5", true);
    card.remove().unwrap();
    wait_for_kind(&office, "session_end_failed");
    assert_eq!(
        office.count("session_ended"),
        0,
        "{:?}",
        office.audit_kinds()
    );
    assert_eq!(office.sessions(), [("e5".to_owned(), "ending".to_owned())]);
    office.logind_session_stays("e5", false);
    wait_for_kind(&office, "session_ended");
    assert_eq!(
        ended(&office),
        (
            EndReason::CardRemoved,
            Some(SessionType::X11),
            Some(LogindState::Closing)
        )
    );
    assert!(office.sessions().is_empty());
}

#[test]
fn a_console_login_through_pam_is_ended_when_the_card_is_pulled() {
    // The integration example: a console `login` with `on_removal = "lock"`, here
    // through the real PAM stack (pamtester), the session registered by pam_cardgate.
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    office.logind_session_type("c9", "tty");
    let _daemon = office.start_daemon().unwrap();
    let card = office
        .personalised_card(cardgate_tests::fixtures::OPERATOR, PIN)
        .unwrap();
    let mut inserted = office.lab.insert_card(0, &card).unwrap();
    let socket = office.login_socket();
    let service = cardgate_tests::pamtester::service_file(
        &office.dir,
        "cardgate-console",
        &format!("terminal=juki-01 socket={} lang=en", socket.display()),
    )
    .unwrap();
    let run = cardgate_tests::pamtester::pamtester(
        &service,
        USER,
        &["XDG_SESSION_ID=c9"],
        &["authenticate", "acct_mgmt", "open_session"],
        &[PIN],
    )
    .unwrap();
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(office.sessions(), [("c9".to_owned(), "active".to_owned())]);

    inserted.remove().unwrap();
    office.wait_for_call("terminate-session c9").unwrap();
    wait_for_kind(&office, "session_ended");
    assert_eq!(
        ended(&office),
        (
            EndReason::NoLocker,
            Some(SessionType::Tty),
            Some(LogindState::Closing)
        )
    );
    assert_eq!(office.count("session_locked"), 0);
    assert!(office.sessions().is_empty());
}
