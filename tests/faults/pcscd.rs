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
