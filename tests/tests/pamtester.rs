//! pam_cardgate through a real PAM stack: `pamtester` loads the built module from a service
//! file, talks to `cardgated` (its own process) over the login socket, and the daemon reads
//! software cards through a private pcscd with vpcd readers.
//!
//! The host's PAM configuration is never touched: every pamtester runs in a private mount
//! namespace (`unshare --mount`, private propagation) where `/etc/pam.d` is a fresh tmpfs
//! holding only the test's service file, which names the module by absolute path.
//!
//! pamtester converses through libpam_misc's `misc_conv`: prompts and errors on stderr,
//! information on stdout, each answer read with one `read(2)` on stdin. The driver below
//! therefore writes each answer only once its prompt has appeared, as a person would.
//! pamtester's stdout is a pipe, which stdio would buffer until exit: it runs under
//! `stdbuf -o0` so that "insert your card" is seen while the module waits.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::issue::IssueRequest;
use cardgate_card::{CardSerial, Pin, Puk, Role};
use cardgate_tests::fixtures::{INITIAL_PIN, NEW_PIN, OPERATOR, PIN, PUK, USER};
use cardgate_tests::pamtester::{service_file, Finished, Pamtester};
use cardgate_tests::{Office, PcscLab, SoftCardFile};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn office() -> Office {
    Office::standard(
        PcscLab::start().unwrap(),
        // The card's own three tries are what these tests count.
        "[rate_limit]\nfree_failures = 3\n",
    )
    .unwrap()
}

fn start_daemon(office: &Office) -> cardgate_tests::Daemon {
    office.start_daemon().unwrap()
}

fn ctl(office: &Office, args: &[&str]) -> Output {
    let out = office.ctl(args, "").unwrap();
    assert!(
        out.status.success(),
        "cardgatectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cardgatectl() -> PathBuf {
    cardgate_tests::paths::workspace_artifact("cardgatectl", "cardgatectl").unwrap()
}

/// The serial `SoftCardFile::personalised` gives an operator's card.
fn serial_of(operator: &str) -> String {
    let mut serial = [0u8; 8];
    for (i, b) in operator.bytes().enumerate() {
        serial[i % 8] ^= b;
    }
    CardSerial(serial).to_string()
}

/// A service file with the module in all four stacks.
fn service(dir: &Path, socket: &Path, extra: &str) -> PathBuf {
    let args = format!("terminal=juki-01 socket={} {extra}", socket.display());
    let name = format!("cardgate-test-{}", extra.replace([' ', '='], "_"));
    service_file(dir, &name, &args).unwrap()
}

/// Runs pamtester, answering each prompt in turn.
fn pamtester(service: &Path, user: &str, env: &[&str], ops: &[&str], answers: &[&str]) -> Finished {
    cardgate_tests::pamtester::pamtester(service, user, env, ops, answers).unwrap()
}

trait Outcome {
    fn assert_failed(&self, pam_error: &str);
    fn assert_succeeded(&self);
}

impl Outcome for Finished {
    fn assert_failed(&self, pam_error: &str) {
        assert!(
            !self.status.success(),
            "succeeded: {}{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(pam_error),
            "no {pam_error:?} in:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("successfully"), "{}", self.stderr);
    }
    fn assert_succeeded(&self) {
        assert!(self.status.success(), "{}\n{}", self.stdout, self.stderr);
    }
}

fn insert(office: &Office, card: &SoftCardFile) -> cardgate_tests::CardProcess {
    let process = office.lab.serve_card(0, card, None).unwrap();
    office.lab.wait_for_card(0).unwrap();
    process
}

#[test]
fn right_pin_opens_a_session_that_locks_when_the_card_is_pulled() {
    let office = office();
    let _daemon = start_daemon(&office);
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let mut inserted = insert(&office, &card);
    let svc = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=5 lang=en",
    );

    let run = pamtester(
        &svc,
        USER,
        &["XDG_SESSION_ID=c7"],
        &["authenticate", "acct_mgmt", "open_session"],
        &[PIN],
    );
    run.assert_succeeded();
    // One PIN prompt for one authentication, never two.
    assert_eq!(run.prompts(), 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("successfully opened a session"),
        "{}",
        run.stdout
    );

    // Art. 6.2: the card leaves, the session registered through PAM is locked.
    inserted.remove().unwrap();
    let start = Instant::now();
    while !office
        .loginctl_calls()
        .iter()
        .any(|c| c == "lock-session c7")
    {
        assert!(
            start.elapsed() < LIMIT,
            "no lock: {:?}",
            office.loginctl_calls()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let audit = Command::new(cardgatectl())
        .arg("--config")
        .arg(&office.config)
        .args(["audit", "report", "--dir"])
        .arg(office.dir.join("audit"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&audit.stdout);
    assert!(report.contains(OPERATOR), "{report}");
}

#[test]
fn wrong_pins_show_the_tries_left_then_the_card_is_blocked() {
    let office = office();
    let _daemon = start_daemon(&office);
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let _inserted = insert(&office, &card);
    let svc = service(&office.dir, &office.dir.join("login.sock"), "wait=5");

    // The language from the PAM environment's locale.
    let run = pamtester(
        &svc,
        USER,
        &["LANG=ja_JP.UTF-8"],
        &["authenticate"],
        &["Wrong9999"],
    );
    run.assert_failed("Authentication failure");
    assert!(
        run.stderr
            .contains("操作者カードの暗証番号を入力してください"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("残り2回"), "{}", run.stderr);

    let run = pamtester(&svc, USER, &[], &["authenticate"], &["Wrong9999"]);
    run.assert_failed("Authentication failure");
    assert!(
        run.stderr.contains("Wrong PIN. 1 try left"),
        "{}",
        run.stderr
    );

    let run = pamtester(&svc, USER, &[], &["authenticate"], &["Wrong9999"]);
    run.assert_failed("maximum number of retries");
    assert!(run.stderr.contains("The PIN is blocked"), "{}", run.stderr);

    // Blocked: even the right PIN is refused, with the same clear message.
    let run = pamtester(&svc, USER, &[], &["authenticate"], &[PIN]);
    run.assert_failed("maximum number of retries");
    assert!(
        run.stderr
            .contains("Ask the access manager to unblock the card"),
        "{}",
        run.stderr
    );
}

#[test]
fn revoked_expired_and_foreign_cards_are_refused_before_the_pin() {
    let office = office();
    let _daemon = start_daemon(&office);
    let svc = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=5 lang=en",
    );

    // The wrong user for the card (art. 5.3): tanaka's card, suzuki at the terminal.
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let mut inserted = insert(&office, &card);
    let run = pamtester(&svc, "suzuki", &[], &["authenticate"], &[PIN]);
    run.assert_failed("Authentication failure");
    assert_eq!(run.prompts(), 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("This card is not lent to you."),
        "{}",
        run.stderr
    );

    // Revoked (art. 5.4): refused before the PIN, and by acct_mgmt as an expired account.
    let issuer_dir = office.dir.join("issuer");
    ctl(
        &office,
        &[
            "card",
            "revoke",
            &serial_of(OPERATOR),
            "--reason",
            "lost",
            "--issuer-dir",
            issuer_dir.to_str().unwrap(),
            // The test's card is made in place, not issued through this register.
            "--not-in-register",
            "--yes",
        ],
    );
    // The daemon picks the new list up on its tick; the attempt that sees it first may have
    // passed its probe just before (and been asked the PIN), so the one after is the test.
    let start = Instant::now();
    loop {
        let run = pamtester(&svc, USER, &[], &["authenticate"], &[PIN]);
        if run.stderr.contains("revoked") || start.elapsed() > LIMIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = pamtester(&svc, USER, &[], &["authenticate"], &[PIN]);
    run.assert_failed("Authentication failure");
    assert_eq!(run.prompts(), 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("This card has been revoked"),
        "{}",
        run.stderr
    );
    let run = pamtester(&svc, USER, &[], &["acct_mgmt"], &[]);
    run.assert_failed("User account has expired");
    inserted.remove().unwrap();
    office.lab.wait_for_no_card(0).unwrap();

    // Expired.
    let image = cardgate_sim::create_card(
        &office.issuer,
        &Puk::parse(PUK).unwrap(),
        &Pin::parse(PIN).unwrap(),
        &IssueRequest {
            serial: CardSerial([0x0e; 8]),
            operator_id: OPERATOR.into(),
            role: Role::Operator,
            valid_from: time::macros::date!(2020 - 01 - 01),
            valid_until: time::macros::date!(2021 - 12 - 31),
        },
    )
    .unwrap();
    let expired = SoftCardFile::from_image(&office.lab, "expired", image).unwrap();
    let _inserted = insert(&office, &expired);
    let run = pamtester(&svc, USER, &[], &["authenticate"], &[PIN]);
    run.assert_failed("Authentication failure");
    assert_eq!(run.prompts(), 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("This card has expired"),
        "{}",
        run.stderr
    );
    let run = pamtester(&svc, USER, &[], &["acct_mgmt"], &[]);
    run.assert_failed("User account has expired");
}

#[test]
fn no_card_at_first_then_one_inserted_within_the_wait() {
    let office = office();
    let _daemon = start_daemon(&office);
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();

    // No card within a short wait: refused, no PIN asked.
    let short = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=1 lang=en",
    );
    let run = pamtester(&short, USER, &[], &["authenticate"], &[PIN]);
    run.assert_failed("Insufficient credentials");
    assert!(
        run.stdout.contains("Insert your operator card"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("No operator card was inserted."),
        "{}",
        run.stderr
    );
    assert_eq!(run.prompts(), 0);

    // The card arrives while the module waits.
    let svc = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=20 lang=en",
    );
    let mut run = Pamtester::spawn(&svc, USER, &[], &["authenticate"]).unwrap();
    run.wait_stdout("Insert your operator card into the reader.")
        .unwrap();
    let _inserted = insert(&office, &card);
    let answered = run.answer(1, PIN).unwrap();
    let run = run.finish().unwrap();
    assert!(answered, "{}\n{}", run.stdout, run.stderr);
    run.assert_succeeded();
    assert_eq!(run.prompts(), 1, "{}", run.stderr);
}

#[test]
fn chauthtok_refuses_a_weak_pin_with_the_policys_message_and_accepts_a_good_one() {
    let office = office();
    let _daemon = start_daemon(&office);
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let _inserted = insert(&office, &card);
    let svc = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=5 lang=en",
    );

    let run = pamtester(&svc, USER, &[], &["chauthtok"], &[PIN, "abc123", "abc123"]);
    run.assert_failed("Authentication token manipulation error");
    assert!(
        run.stderr
            .contains("The new PIN does not meet the PIN policy"),
        "{}",
        run.stderr
    );

    // Typed differently twice: refused locally.
    let run = pamtester(
        &svc,
        USER,
        &[],
        &["chauthtok"],
        &[PIN, "Kappa2028", "Kappa2029"],
    );
    run.assert_failed("Authentication token manipulation error");
    assert!(
        run.stderr.contains("The new PINs do not match."),
        "{}",
        run.stderr
    );

    let run = pamtester(
        &svc,
        USER,
        &[],
        &["chauthtok"],
        &[PIN, "Kappa2028", "Kappa2028"],
    );
    run.assert_succeeded();
    assert!(
        run.stdout.contains("The PIN was changed."),
        "{}",
        run.stdout
    );

    // The new PIN is the card's PIN now; the old one is not.
    pamtester(&svc, USER, &[], &["authenticate"], &["Kappa2028"]).assert_succeeded();
    pamtester(&svc, USER, &[], &["authenticate"], &[PIN]).assert_failed("Authentication failure");
}

/// A stand-in daemon that answers every request with `reply` (None: hangs up at once).
fn fake_daemon(path: &Path, reply: Option<&'static [u8]>) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut line = [0u8; 1024];
            let _ = stream.read(&mut line);
            if let Some(reply) = reply {
                let _ = stream.write_all(reply);
            }
        }
    });
}

#[test]
fn the_daemon_down_or_talking_garbage_is_failure_never_success() {
    let dir = std::env::temp_dir().join(format!("cardgate-pam-down-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.sock");
    fake_daemon(
        &garbage,
        Some(b"HTTP/1.1 200 OK\r\n\r\n{\"result\":\"granted\"}\n"),
    );
    let hangup = dir.join("hangup.sock");
    fake_daemon(&hangup, None);
    for socket in [dir.join("absent.sock"), garbage, hangup] {
        let svc = service(&dir, &socket, "wait=2 lang=en");
        for ops in [
            &["authenticate"][..],
            &["acct_mgmt"],
            &["chauthtok"],
            &["open_session"],
            &["close_session"],
        ] {
            let run = pamtester(&svc, USER, &["XDG_SESSION_ID=c9"], ops, &[PIN, PIN, PIN]);
            run.assert_failed("Authentication service cannot retrieve authentication info");
            assert_eq!(run.prompts(), 0, "a PIN asked for nothing: {}", run.stderr);
        }
    }
    // A bad module argument is refused too (the service file is wrong, fail closed).
    let svc = service(&dir, &dir.join("absent.sock"), "wait=forever");
    pamtester(&svc, USER, &[], &["authenticate"], &[]).assert_failed("Error in service module");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_initial_pin_must_be_changed_before_the_session_opens() {
    let office = office();
    let _daemon = start_daemon(&office);
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let _inserted = insert(&office, &blank);
    // The access manager lends the card with an initial PIN (art. 5.1).
    let reader = office.lab.reader(0).unwrap().to_owned();
    let issuer_dir = office.dir.join("issuer");
    let manager_reader = office.manager_reader().unwrap();
    let mut issue = Command::new(cardgatectl())
        .arg("--config")
        .arg(&office.config)
        .args(["card", "issue", "--reader", &reader, "--operator", OPERATOR])
        .arg("--issuer-dir")
        .arg(&issuer_dir)
        .args(["--manager-reader", &manager_reader])
        .env("PCSCLITE_CSOCK_NAME", office.lab.client_socket())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    issue
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n{PUK}\n{INITIAL_PIN}\n", cardgate_tests::MANAGER_PIN).as_bytes())
        .unwrap();
    let issued = issue.wait_with_output().unwrap();
    assert!(issued.status.success(), "{issued:?}");
    let svc = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=5 lang=en",
    );

    // acct_mgmt asks for a new PIN; the session is not opened.
    let run = pamtester(
        &svc,
        USER,
        &[],
        &["authenticate", "acct_mgmt"],
        &[INITIAL_PIN],
    );
    run.assert_failed("new one required");
    assert!(
        run.stderr.contains("You must change the initial PIN now."),
        "{}",
        run.stderr
    );

    // Login's path: authenticate, change the PIN, then the session opens.
    let run = pamtester(
        &svc,
        USER,
        &["XDG_SESSION_ID=c3"],
        &["authenticate", "chauthtok", "acct_mgmt", "open_session"],
        &[INITIAL_PIN, INITIAL_PIN, NEW_PIN, NEW_PIN],
    );
    run.assert_succeeded();
    assert_eq!(run.prompts(), 4, "{}", run.stderr);
    assert!(
        run.stdout.contains("successfully opened a session"),
        "{}",
        run.stdout
    );
}

/// Finding 3 (the session ID): without `XDG_SESSION_ID` (pam_systemd missing or failed) the
/// session is refused, with a message, even though `PAM_TTY` is set: a TTY name is no logind
/// session, and the removal lock would act on nothing.
#[test]
fn without_a_logind_session_id_the_session_is_refused() {
    let office = office();
    let _daemon = start_daemon(&office);
    let card = SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, PIN, PUK).unwrap();
    let _inserted = insert(&office, &card);
    for (lang, says) in [
        ("en", "No logind session"),
        ("ja", "ログインセッションが登録されていない"),
    ] {
        let svc = service(
            &office.dir,
            &office.dir.join("login.sock"),
            &format!("wait=5 lang={lang}"),
        );
        let mut run = Pamtester::spawn_with_items(
            &svc,
            USER,
            &[],
            &["tty=/dev/tty3"],
            &["authenticate", "acct_mgmt", "open_session"],
        )
        .unwrap();
        assert!(run.answer(1, PIN).unwrap());
        let run = run.finish().unwrap();
        run.assert_failed("Cannot make/remove an entry for the specified session");
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    // Nothing was registered with the daemon.
    let sessions = || Office::ask_on(&office.admin_socket(), r#"{"op":"sessions"}"#).unwrap();
    assert_eq!(sessions()["data"], serde_json::json!([]), "{}", sessions());
    // With pam_systemd's ID the same stack opens the session.
    let svc = service(
        &office.dir,
        &office.dir.join("login.sock"),
        "wait=5 lang=en",
    );
    pamtester(
        &svc,
        USER,
        &["XDG_SESSION_ID=c5"],
        &["authenticate", "acct_mgmt", "open_session"],
        &[PIN],
    )
    .assert_succeeded();
    assert!(sessions().to_string().contains("c5"), "{}", sessions());
}
