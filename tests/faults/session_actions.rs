//! The security review's findings on session actions and refusal records (issue 11),
//! through the real stack: a private pcscd with vpcd readers, `cardgate-sim serve` cards,
//! `cardgated` as its own process, and a stand-in `loginctl` that can fail or hang as a real
//! one does when logind refuses or does not answer.

use cardgate_audit::{Event, Record};
use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::Office;
use cardgate_tests::{PcscLab, SoftCardFile};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

fn records(office: &Office) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, path) in cardgate_audit::segments::list_segments(&office.dir.join("audit")).unwrap() {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            out.push(Record::parse(line.as_bytes()).unwrap());
        }
    }
    out
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

/// One terminal, tanaka's card in its reader, a session `s1` open.
fn one_session(extra: &str) -> (Office, cardgate_tests::CardProcess, cardgate_tests::Daemon) {
    Office::standard(PcscLab::start().unwrap(), extra)
        .unwrap()
        .with_open_session("s1")
        .unwrap()
}

// Finding 3: with a loginctl that fails, the daemon recorded `session_locked` and logged
// "removal: session action done".
#[test]
fn a_lock_logind_refuses_is_recorded_as_failed_and_the_session_is_ended() {
    let (office, mut card, _daemon) = one_session("action_attempts = 2\n");
    office.loginctl_fails("lock-session", None, true);
    card.remove().unwrap();
    office.wait_for_call("terminate-session s1").unwrap();
    wait_for_kind(&office, "session_ended");
    let kinds = office.audit_kinds();
    assert!(
        !kinds.iter().any(|k| k == "session_locked"),
        "a lock that failed was recorded as done: {kinds:?}"
    );
    assert_eq!(office.count("session_lock_failed"), 1, "{kinds:?}");
    let failed = records(&office)
        .into_iter()
        .find_map(|r| match r.event {
            Event::SessionLockFailed {
                error, attempts, ..
            } => Some((error, attempts)),
            _ => None,
        })
        .unwrap();
    assert_eq!(failed.1, 2);
    assert!(
        failed.0.as_str().contains("known"),
        "the record says why: {}",
        failed.0.as_str()
    );
    assert!(office.sessions().is_empty());
    // The session ID is passed after `--`, so that it is never read as an option.
    assert!(
        office
            .raw_loginctl_calls()
            .iter()
            .any(|c| c == "lock-session -- s1"),
        "{:?}",
        office.raw_loginctl_calls()
    );
    office.verify_audit();
}

// Finding 3: loginctl ran without a timeout inside the event loop, so a hung one stalled
// every card event.
#[test]
fn a_hung_loginctl_holds_up_only_its_own_session() {
    let office = Office::two_terminals("action_timeout_ms = 3000\naction_attempts = 1\n").unwrap();
    let first =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let second =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0043", PIN, PUK).unwrap();
    let mut a = office.lab.serve_card(0, &first, None).unwrap();
    let mut b = office.lab.serve_card(2, &second, None).unwrap();
    office.lab.wait_for_card(0).unwrap();
    office.lab.wait_for_card(2).unwrap();
    let _daemon = office.start_daemon().unwrap();
    for (terminal, user, session) in [("juki-01", "tanaka", "a1"), ("juki-02", "suzuki", "b1")] {
        assert_eq!(
            office.authenticate(terminal, user, PIN)["result"],
            "granted"
        );
        assert_eq!(
            office.open_session(terminal, user, session)["result"],
            "granted"
        );
    }
    office.loginctl_hangs("lock-session", "a1", true);
    a.remove().unwrap();
    office.wait_for_call("lock-session a1").unwrap();
    let hung_at = Instant::now();
    b.remove().unwrap();
    office.wait_for_call("lock-session b1").unwrap();
    wait_for_kind(&office, "session_locked");
    assert!(
        hung_at.elapsed() < Duration::from_millis(2500),
        "the second terminal's lock waited for the hung one ({:?})",
        hung_at.elapsed()
    );
    assert_eq!(office.count("session_lock_failed"), 0);
    // The hung call is killed at the timeout; the session is then ended instead.
    office.wait_for_call("terminate-session a1").unwrap();
    wait_for_kind(&office, "session_lock_failed");
    wait_for_kind(&office, "session_ended");
    let failed = records(&office)
        .into_iter()
        .find_map(|r| match r.event {
            Event::SessionLockFailed { error, .. } => Some(error),
            _ => None,
        })
        .unwrap();
    assert!(failed.as_str().contains("3000 ms"), "{}", failed.as_str());
    assert_eq!(office.sessions(), [("b1".to_owned(), "locked".to_owned())]);
}

/// `count` probes from `nobody` (uid 65534), each on its own connection as PAM makes them;
/// returns how many were answered `wrong_user`.
fn probes_as_nobody(office: &Office, count: usize) -> usize {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import socket,sys\n\
             n=0\n\
             for _ in range(int(sys.argv[3])):\n\
             \x20   s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode())\n\
             \x20   b=b''\n\
             \x20   while True:\n\
             \x20       c=s.recv(4096)\n\
             \x20       if not c: break\n\
             \x20       b+=c\n\
             \x20   s.close()\n\
             \x20   n+= b'wrong_user' in b\n\
             print(n)\n",
        )
        .arg(office.login_socket())
        .arg("{\"op\":\"probe\",\"terminal\":\"juki-01\",\"user\":\"nobody\"}\n")
        .arg(count.to_string())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

// Finding 4: 800 probes with a colleague's card in the reader wrote 800 `login_denied`
// records naming the colleague's operator, and PAM's own wait for a card wrote 4 denials a
// second; nothing said who asked.
#[test]
fn probes_from_one_user_neither_fill_the_log_nor_frame_the_card_holder() {
    let (office, mut card, _daemon) = one_session("[refusals]\nwindow_seconds = 3\n");
    let before = records(&office).len();
    let answered = probes_as_nobody(&office, 800);
    assert!(answered > 0, "no probe was answered wrong_user");
    // PAM's wait for a card, as root: no card, asked over and over.
    card.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();
    for _ in 0..200 {
        let a = office
            .ask(r#"{"op":"probe","terminal":"juki-01","user":"tanaka"}"#)
            .unwrap();
        assert_eq!(a["reason"], "no_card", "{a}");
    }
    // The window ends: what was held back is counted.
    std::thread::sleep(Duration::from_millis(4500));
    let written: Vec<Record> = records(&office).split_off(before);
    let denials_by = |uid: u32| {
        written
            .iter()
            .filter(|r| r.uid == Some(uid) && matches!(r.event, Event::LoginDenied { .. }))
            .count()
    };
    let held_by = |uid: u32| -> u64 {
        written
            .iter()
            .filter(|r| r.uid == Some(uid))
            .filter_map(|r| match &r.event {
                Event::DenialsSuppressed { count, .. } => Some(*count),
                _ => None,
            })
            .sum()
    };
    assert!(
        denials_by(65534) <= 3,
        "{} refusals written for one user's probes",
        denials_by(65534)
    );
    assert!(denials_by(65534) >= 1, "the refusal itself was not written");
    assert_eq!(
        denials_by(65534) as u64 + held_by(65534),
        answered as u64,
        "every refusal is either written or counted"
    );
    assert!(denials_by(0) <= 3 && denials_by(0) as u64 + held_by(0) == 200);
    // Nothing was recorded without saying who asked.
    assert!(
        written
            .iter()
            .filter(|r| matches!(r.event, Event::LoginDenied { .. }))
            .all(|r| r.uid.is_some()),
        "a refusal without its uid"
    );
    assert!(
        written.len() < 30,
        "{} records for 1,000 probes",
        written.len()
    );
}

// Finding 8: session entries that never got a `close_session` survived a reboot, and logind
// reuses numeric session IDs.
#[test]
fn sessions_of_an_earlier_boot_are_dropped_at_start() {
    let (office, mut card, mut daemon) = one_session("");
    daemon.stop();
    let _daemon = office
        .start_daemon_in_boot("0b0b0b0b-1111-2222-3333-444444444444")
        .unwrap();
    assert!(office.sessions().is_empty(), "{:?}", office.sessions());
    assert!(records(&office).iter().any(|r| matches!(
        r.event,
        Event::SessionEnded {
            reason: cardgate_audit::record::EndReason::Shutdown,
            ..
        }
    )));
    // The stale entry is gone: pulling the card acts on no session of another boot.
    card.remove().unwrap();
    wait_for_kind(&office, "card_removed");
    assert!(!office
        .loginctl_calls()
        .iter()
        .any(|c| c.starts_with("lock-session")));
}

// Finding 8: a card swapped while the daemon was down left the session active (the resync
// only asked whether a card was present).
#[test]
fn a_card_swapped_while_the_daemon_was_down_locks_the_session_at_restart() {
    let (office, mut card, mut daemon) = one_session("");
    daemon.kill9();
    card.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();
    let other =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0099", PIN, PUK).unwrap();
    let _other = office.lab.insert_card(0, &other).unwrap();
    let _daemon = office.start_daemon().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
    office.wait_for_session_state("s1", "locked");
}
