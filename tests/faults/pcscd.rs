//! The smart-card service fails under the daemon: pcscd killed during a login and during an
//! open session, and a reader unplugged (pcscd back without it).

use cardgate_reader::pcsc::PcscContext;
use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::{outcome, signal, Office, LIMIT};
use cardgate_tests::{PcscLab, SoftCardFile};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn pcscd_killed_during_a_login_and_during_a_session_fails_closed() {
    let mut office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let mut inserted = office.lab.insert_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();

    // During a login: the card hangs (SIGSTOP), so the login waits inside pcscd for its
    // answer; then pcscd dies.
    let card_pid = inserted.pid().unwrap();
    signal(card_pid, "STOP");
    let (tx, rx) = std::sync::mpsc::channel();
    let socket_office = office.dir.clone();
    let login = std::thread::spawn(move || {
        let answer = Office::ask_on(
            &socket_office.join("login.sock"),
            &format!(
                r#"{{"op":"authenticate","terminal":"juki-01","user":"tanaka","pin":"{PIN}"}}"#
            ),
        )
        .unwrap();
        tx.send(answer).unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        rx.try_recv().is_err(),
        "the login did not wait for the card"
    );
    office.lab.kill_pcscd();
    let answer = rx.recv_timeout(LIMIT).unwrap();
    login.join().unwrap();
    assert_ne!(answer["result"], "granted", "{answer}");
    assert_eq!(outcome(&answer), "reader_unavailable", "{answer}");
    signal(card_pid, "CONT");
    office.lab.start_pcscd().unwrap();
    // The card finds the new pcscd by itself, as a card left in a reader would be seen again.
    office.lab.wait_for_card(0).unwrap();
    let open = office.open_session("juki-01", "tanaka", "s0");
    assert_ne!(open["result"], "granted", "{open}");

    // During an open session: ServiceLost locks it (fail closed).
    let a = office.authenticate("juki-01", "tanaka", PIN);
    assert_eq!(a["result"], "granted", "pcscd is back: {a}");
    assert_eq!(
        office.open_session("juki-01", "tanaka", "s1")["result"],
        "granted"
    );
    office.lab.kill_pcscd();
    office.wait_for_call("lock-session s1").unwrap();
    office.wait_for_session_state("s1", "locked");
    let a = office.authenticate("juki-01", "tanaka", PIN);
    assert_eq!(outcome(&a), "reader_unavailable", "no pcscd: {a}");
    office.lab.start_pcscd().unwrap();
    office.lab.wait_for_card(0).unwrap();
    // Nothing unlocked by itself when the service came back: the card and PIN do it.
    assert!(!office
        .loginctl_calls()
        .iter()
        .any(|c| c == "unlock-session s1"));
    let a = office.authenticate("juki-01", "tanaka", PIN);
    assert_eq!(a["result"], "granted", "{a}");
    office.wait_for_call("unlock-session s1").unwrap();
    office.wait_for_session_state("s1", "active");
    inserted.remove().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
    // One login; the card and PIN after pcscd came back unlocked its session, which is
    // recorded as an unlock, not as a second login (issue 12).
    assert_eq!(office.count("login_granted"), 1);
    assert_eq!(office.count("session_unlocked"), 1);
    office.verify_audit();
}

/// A pcscd of the test's own in the lab's namespaces, on a reader configuration of its own.
struct OwnPcscd {
    child: Child,
}

impl Drop for OwnPcscd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts pcscd in the lab's namespaces with only the first vpcd entry (slots 0 and 1): the
/// readers of the other entries are unplugged.
fn pcscd_without_the_second_reader_pair(lab: &PcscLab) -> OwnPcscd {
    // The lab points the client socket at /proc/<namespace holder>/root/run/pcscd/pcscd.comm.
    let target = std::fs::read_link(lab.client_socket()).unwrap();
    let holder: String = target
        .strip_prefix("/proc")
        .unwrap()
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let run = PathBuf::from(format!("/proc/{holder}/root/run/pcscd"));
    for entry in std::fs::read_dir(&run).unwrap().flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    let full = std::fs::read_to_string(lab.work_dir().join("readers/vpcd")).unwrap();
    let first_entry = full.split("\n\n").next().unwrap();
    let conf = lab.work_dir().join("readers-unplugged");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("vpcd"), format!("{first_entry}\n")).unwrap();
    let log = std::fs::File::create(lab.work_dir().join("pcscd-unplugged.log")).unwrap();
    let child = Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--", "nsenter", "-t", &holder])
        .args(["--mount", "--net", "--", "pcscd", "-f", "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let own = OwnPcscd { child };
    let start = Instant::now();
    loop {
        let listed = PcscContext::establish().and_then(|c| c.list_readers());
        if let Ok(readers) = listed {
            if readers.iter().any(|r| r == lab.reader(0).unwrap()) {
                assert!(!readers.iter().any(|r| r == lab.reader(2).unwrap()));
                return own;
            }
        }
        assert!(
            start.elapsed() < LIMIT,
            "pcscd without the second reader pair did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_unplugged_reader_locks_its_session_and_refuses_logins_clearly() {
    let mut office = Office::two_terminals("").unwrap();
    let first =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let second =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0043", PIN, PUK).unwrap();
    let _a = office.lab.serve_card(0, &first, None).unwrap();
    let _b = office.lab.serve_card(2, &second, None).unwrap();
    office.lab.wait_for_card(0).unwrap();
    office.lab.wait_for_card(2).unwrap();
    let _daemon = office.start_daemon().unwrap();
    for (terminal, user, session) in [("juki-01", "tanaka", "a"), ("juki-02", "suzuki", "b")] {
        assert_eq!(
            office.authenticate(terminal, user, PIN)["result"],
            "granted"
        );
        assert_eq!(
            office.open_session(terminal, user, session)["result"],
            "granted"
        );
    }

    // The reader of juki-02 is unplugged: pcscd comes back without it.
    office.lab.kill_pcscd();
    let own = pcscd_without_the_second_reader_pair(&office.lab);
    office.wait_for_call("lock-session b").unwrap();
    office.wait_for_session_state("b", "locked");
    let refused = office.authenticate("juki-02", "suzuki", PIN);
    assert_eq!(outcome(&refused), "reader_unavailable", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("reader"),
        "{refused}"
    );
    // The other terminal works again (its session was locked too while no service was seen).
    office.lab.wait_for_card(0).unwrap();
    assert_eq!(
        office.authenticate("juki-01", "tanaka", PIN)["result"],
        "granted"
    );
    office.wait_for_call("unlock-session a").unwrap();
    office.wait_for_session_state("a", "active");
    office.wait_for_session_state("b", "locked");

    // Plugged back in: the session stays locked until its card and PIN unlock it.
    drop(own);
    office.lab.start_pcscd().unwrap();
    office.lab.wait_for_card(2).unwrap();
    office.wait_for_session_state("b", "locked");
    assert_eq!(
        office.authenticate("juki-02", "suzuki", PIN)["result"],
        "granted"
    );
    office.wait_for_call("unlock-session b").unwrap();
    office.verify_audit();
}

/// Waits until the audit log holds a record of `kind`.
fn wait_for_record(office: &Office, kind: &str) {
    let start = Instant::now();
    while office.count(kind) == 0 {
        assert!(
            start.elapsed() < LIMIT,
            "no {kind} record: {:?}",
            office.audit_kinds()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `session_locked` records' reasons, in order.
fn lock_reasons(office: &Office) -> Vec<String> {
    office
        .audit_lines()
        .iter()
        .filter_map(|line| cardgate_audit::Record::parse(line.as_bytes()).ok())
        .filter_map(|r| serde_json::to_value(&r.event).ok())
        .filter(|e| e["kind"] == "session_locked")
        .map(|e| e["reason"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// A pcscd stopped cleanly (`systemctl stop pcscd`, an upgrade) during a session: the outage
/// is recorded as itself and logged as a warning, never as a card removal (it used to be
/// `card_removed`, at INFO); the session is locked while presence cannot be known, and stays
/// locked when the service is back with the card still in the reader, until the card and PIN
/// unlock it.
#[test]
fn a_pcscd_outage_is_recorded_as_such_and_locks_until_card_and_pin() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let (mut office, _inserted, daemon) = office.with_open_session("s1").unwrap();

    office.lab.stop_pcscd().unwrap();
    office.wait_for_call("lock-session s1").unwrap();
    office.wait_for_session_state("s1", "locked");
    wait_for_record(&office, "reader_service_lost");
    let log = daemon.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("smart-card service (pcscd) is gone")),
        "{log}"
    );

    office.lab.start_pcscd().unwrap();
    office.lab.wait_for_card(0).unwrap();
    wait_for_record(&office, "reader_service_back");
    // Time for the monitor to have reported a removal, had it taken the card for gone.
    std::thread::sleep(cardgate_reader::monitor::RESTORE_SETTLE + Duration::from_secs(1));
    let kinds = office.audit_kinds();
    assert_eq!(
        office.count("card_removed"),
        0,
        "the outage is not a removal: {kinds:?}"
    );
    let at = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
    assert!(
        at("reader_service_lost") < at("session_locked"),
        "{kinds:?}"
    );
    assert!(
        at("session_locked") < at("reader_service_back"),
        "{kinds:?}"
    );
    assert_eq!(lock_reasons(&office), ["reader_service_lost"]);
    // Nothing unlocked by itself.
    office.wait_for_session_state("s1", "locked");
    assert!(!office
        .loginctl_calls()
        .iter()
        .any(|c| c == "unlock-session s1"));
    let a = office.authenticate("juki-01", "tanaka", PIN);
    assert_eq!(a["result"], "granted", "{a}");
    office.wait_for_call("unlock-session s1").unwrap();
    office.wait_for_session_state("s1", "active");
    office.verify_audit();
}

/// The card pulled while pcscd was down: once the service is back and the card is not, that
/// is the removal (recorded after `reader_service_back`) and its action: with
/// `on_removal = "end"`, the session that the outage locked ends.
#[test]
fn a_card_pulled_during_a_pcscd_outage_is_a_removal_once_the_service_is_back() {
    let office = Office::standard(PcscLab::start().unwrap(), "on_removal = \"end\"").unwrap();
    let (mut office, mut inserted, _daemon) = office.with_open_session("s1").unwrap();

    office.lab.stop_pcscd().unwrap();
    // Locked, not ended: nobody knows yet whether the card left.
    office.wait_for_call("lock-session s1").unwrap();
    office.wait_for_session_state("s1", "locked");
    inserted.remove().unwrap();
    office.lab.start_pcscd().unwrap();
    office.wait_for_call("terminate-session s1").unwrap();
    let kinds = office.audit_kinds();
    let at = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
    assert_eq!(office.count("card_removed"), 1, "{kinds:?}");
    assert!(at("reader_service_back") < at("card_removed"), "{kinds:?}");
    office.verify_audit();
}
