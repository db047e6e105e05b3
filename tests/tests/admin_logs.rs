//! What an administrator reads, from the real binaries: cardgated's journal entries (the
//! native protocol on a journal socket the test binds, in a private mount namespace), its
//! `sd_notify` messages (a datagram socket as `NOTIFY_SOCKET`), and pam_cardgate's syslog
//! lines (`/dev/log` in pamtester's private mount namespace is a socket the test binds).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::{OPERATOR, PIN, TERMINAL, USER};
use cardgate_tests::pamtester::{service_file, Pamtester};
use cardgate_tests::{Office, PcscLab};
use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(40);

fn bind(path: &Path) -> UnixDatagram {
    let socket = UnixDatagram::bind(path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    socket
}

/// The next datagram, if one comes within the socket's read timeout.
fn receive(socket: &UnixDatagram) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256 * 1024];
    match socket.recv(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// One entry of journald's native protocol: `NAME=value\n`, or `NAME\n`, a 64-bit
/// little-endian length, the value and `\n` (the form tracing-journald uses for every field).
fn parse_entry(mut data: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !data.is_empty() {
        let nl = data.iter().position(|b| *b == b'\n').expect("a field ends");
        let line = &data[..nl];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            data = &data[nl + 1..];
        } else {
            let name = String::from_utf8_lossy(line).into_owned();
            let len = u64::from_le_bytes(data[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let value = &data[nl + 9..nl + 9 + len];
            assert_eq!(data[nl + 9 + len], b'\n', "{name}");
            fields.insert(name, String::from_utf8_lossy(value).into_owned());
            data = &data[nl + 9 + len + 1..];
        }
    }
    fields
}

/// Receives journal entries until one matches; panics with every entry seen after `LIMIT`.
fn entry_where(
    journal: &UnixDatagram,
    seen: &mut Vec<HashMap<String, String>>,
    what: &str,
    matches: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    if let Some(e) = seen.iter().find(|e| matches(e)) {
        return e.clone();
    }
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < LIMIT,
            "no journal entry {what}; entries: {seen:#?}"
        );
        let Some(data) = receive(journal) else {
            continue;
        };
        // tracing-journald's probe at start is an empty datagram, which journald discards.
        if data.is_empty() {
            continue;
        }
        let entry = parse_entry(&data);
        seen.push(entry.clone());
        if matches(&entry) {
            return entry;
        }
    }
}

fn message_is(text: &'static str) -> impl Fn(&HashMap<String, String>) -> bool {
    move |e| e.get("MESSAGE").map(String::as_str) == Some(text)
}

/// cardgated in a private mount namespace whose `/run/systemd/journal/socket` is the test's
/// socket, with `JOURNAL_STREAM` naming its standard error, as systemd starts a service.
struct JournalDaemon {
    child: Child,
}

impl Drop for JournalDaemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            cardgate_tests::signal(self.child.id(), "TERM");
        }
        let _ = self.child.wait();
    }
}

fn start_under_journal(
    office: &Office,
    config: &Path,
    journal: &Path,
    stderr: &Path,
) -> JournalDaemon {
    let program =
        cardgate_tests::paths::workspace_artifact("cardgated", "cardgate-sessiond").unwrap();
    let child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/systemd/journal && \
             ln -s \"$TEST_JOURNAL\" /run/systemd/journal/socket && \
             JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && export JOURNAL_STREAM && \
             exec \"$@\"",
            "sh",
        ])
        .arg(program)
        .arg("--config")
        .arg(config)
        .env("TEST_JOURNAL", journal)
        .env("PCSCLITE_CSOCK_NAME", office.lab.client_socket())
        .env_remove("CARDGATE_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    JournalDaemon { child }
}

/// Under systemd the daemon's lines reach the journal with their priority (errors 3,
/// warnings 4, information 6) and their fields as `CARDGATE_…` journal fields, so that
/// `journalctl -p err -u cardgated` shows its errors (it used to write plain text to stderr,
/// all of it at the stream's one priority).
#[test]
fn cardgated_logs_to_the_journal_with_priorities_and_fields() {
    let mut office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let journal_path = office.dir.join("journal.sock");
    let journal = bind(&journal_path);
    let card = office.personalised_card(OPERATOR, PIN).unwrap();
    let mut inserted = office.lab.insert_card(0, &card).unwrap();
    let stderr = office.dir.join("cardgated-journal.stderr");
    let _daemon = start_under_journal(&office, &office.config, &journal_path, &stderr);
    let mut seen = Vec::new();

    let ready = entry_where(
        &journal,
        &mut seen,
        "cardgated ready",
        message_is("cardgated ready"),
    );
    assert_eq!(ready["PRIORITY"], "6", "{ready:?}");
    assert_eq!(ready["SYSLOG_IDENTIFIER"], "cardgated", "{ready:?}");

    // A session whose lock fails: the removal names its reader (information), each failed
    // attempt is a warning, and ending the session instead is an error naming session and
    // user.
    office.login(TERMINAL, USER, PIN, "s1").unwrap();
    office.loginctl_fails("lock-session", Some("s1"), true);
    inserted.remove().unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let removal = entry_where(
        &journal,
        &mut seen,
        "for the removal",
        message_is("removal: session action started"),
    );
    assert_eq!(removal["PRIORITY"], "6", "{removal:?}");
    assert_eq!(removal["CARDGATE_READER"], reader, "{removal:?}");
    let failed = entry_where(
        &journal,
        &mut seen,
        "at priority 3 for the failed lock",
        |e| e.get("PRIORITY").map(String::as_str) == Some("3"),
    );
    assert_eq!(
        failed["MESSAGE"], "the session could not be locked; ending it",
        "{failed:?}"
    );
    assert_eq!(failed["CARDGATE_SESSION"], "s1", "{failed:?}");
    assert_eq!(failed["CARDGATE_USER"], USER, "{failed:?}");
    assert!(
        seen.iter()
            .any(|e| e["PRIORITY"] == "4" && e["MESSAGE"] == "lock failed"),
        "{seen:#?}"
    );
    office.wait_for_call("terminate-session s1").unwrap();

    // A pcscd outage is a warning.
    office.lab.stop_pcscd().unwrap();
    let lost = entry_where(&journal, &mut seen, "for the outage", |e| {
        e.get("MESSAGE")
            .is_some_and(|m| m.starts_with("the smart-card service (pcscd) is gone"))
    });
    assert_eq!(lost["PRIORITY"], "4", "{lost:?}");
    assert!(lost.contains_key("CARDGATE_SESSIONS_LOCKED"), "{lost:?}");
    office.lab.start_pcscd().unwrap();

    // Nothing went to standard error as well (journald would have stored it twice).
    let text = std::fs::read_to_string(&stderr).unwrap();
    assert!(!text.contains("cardgated ready"), "{text}");
}

/// A configuration that cannot be loaded is reported before the log is set up, on standard
/// error: under the journal with the `<3>` prefix, which journald stores at priority 3
/// (`journalctl -p err -u cardgated` says why the daemon did not start), plain elsewhere.
#[test]
fn a_configuration_error_at_start_is_an_error_in_the_journal() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let broken = office.dir.join("broken.toml");
    std::fs::write(&broken, "[daemon\n").unwrap();
    let journal_path = office.dir.join("journal.sock");
    let _journal = bind(&journal_path);
    let stderr = office.dir.join("broken.stderr");
    let mut daemon = start_under_journal(&office, &broken, &journal_path, &stderr);
    let status = daemon.child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let text = std::fs::read_to_string(&stderr).unwrap();
    let line = text.lines().next().unwrap_or_default();
    assert!(line.starts_with("<3>cardgated: "), "{text}");
    assert!(line.contains(&broken.display().to_string()), "{text}");

    let program =
        cardgate_tests::paths::workspace_artifact("cardgated", "cardgate-sessiond").unwrap();
    let plain = Command::new(program)
        .arg("--config")
        .arg(&broken)
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plain.stderr);
    assert!(text.starts_with("cardgated: "), "{text}");
}

/// Receives `sd_notify` datagrams for `within`, as text.
fn notifications(socket: &UnixDatagram, within: Duration) -> Vec<(Instant, String)> {
    let start = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < within {
        if let Some(data) = receive(socket) {
            out.push((Instant::now(), String::from_utf8_lossy(&data).into_owned()));
        }
    }
    out
}

fn pings(messages: &[(Instant, String)]) -> Vec<Instant> {
    messages
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect()
}

/// The daemon tells systemd where it is (`STATUS=` while it starts, `READY=1` with the
/// terminals and sessions), pings the watchdog at half of `WATCHDOG_USEC` while it is alive,
/// stops pinging while its engine is wedged (the revocation list is a FIFO nobody writes: its
/// periodic reload blocks), pings again once it is not, and says `STOPPING=1` on SIGTERM.
#[test]
fn cardgated_notifies_ready_status_the_watchdog_and_stopping() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let notify_path = office.dir.join("notify.sock");
    let notify = bind(&notify_path);
    let script = format!(
        "NOTIFY_SOCKET={} WATCHDOG_USEC=1000000 WATCHDOG_PID=$$ && \
         export NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID && exec \"$@\"",
        notify_path.display()
    );
    let mut daemon = office
        .start_daemon_in(&["sh", "-c", &script, "sh"])
        .unwrap();

    let first = notifications(&notify, Duration::from_secs(3));
    let texts: Vec<&str> = first.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        texts.contains(&"STATUS=starting: opening the audit log\n"),
        "{texts:?}"
    );
    let ready = texts
        .iter()
        .position(|m| *m == "READY=1\nSTATUS=ready: 1 terminal(s), 0 open session(s)\n")
        .unwrap_or_else(|| panic!("{texts:?}"));
    let starting = texts
        .iter()
        .position(|m| m.starts_with("STATUS=starting"))
        .unwrap();
    assert!(starting < ready, "{texts:?}");
    assert!(
        !daemon.log_text().contains("the daemon is not answering"),
        "{}",
        daemon.log_text()
    );
    let beats = pings(&first);
    assert!(beats.len() >= 3, "pings every 0.5 s: {texts:?}");
    for pair in beats.windows(2) {
        assert!(
            pair[1] - pair[0] < Duration::from_millis(1000),
            "a gap of {:?} between pings, WATCHDOG_USEC is 1 s",
            pair[1] - pair[0]
        );
    }

    // The engine wedges: its tick blocks opening the list.
    let list = office.dir.join("state/revoked.crl");
    let kept = office.dir.join("state/revoked.crl.kept");
    std::fs::rename(&list, &kept).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&list)
        .status()
        .unwrap()
        .success());
    // The pings allowed since the last tick that finished (two ticks, notify::tick_age_limit),
    // then none.
    notifications(&notify, Duration::from_millis(2500));
    let wedged = notifications(&notify, Duration::from_secs(2));
    assert!(
        pings(&wedged).is_empty(),
        "a wedged daemon must not ping: {wedged:?}"
    );
    assert!(
        daemon.log_text().contains("the daemon is not answering"),
        "{}",
        daemon.log_text()
    );

    // Unwedged: the blocked open returns (a writer comes and goes), the list comes back.
    drop(std::fs::OpenOptions::new().write(true).open(&list).unwrap());
    std::fs::rename(&kept, &list).unwrap();
    let after = notifications(&notify, Duration::from_secs(3));
    assert!(!pings(&after).is_empty(), "pings resume: {after:?}");

    daemon.stop();
    let last = notifications(&notify, Duration::from_millis(500));
    assert!(
        last.iter()
            .any(|(_, m)| m.lines().next() == Some("STOPPING=1")),
        "{last:?}"
    );
}

/// pam_cardgate's refusals reach syslog with the authpriv facility (`<85>`: LOG_AUTHPRIV |
/// LOG_NOTICE) naming the user, terminal and reason, and never the PIN; a typo in its
/// arguments is logged as an error (`<83>`) naming the argument, where before it showed only
/// as "Error in service module".
#[test]
fn pam_refusals_and_bad_arguments_reach_authpriv_without_the_pin() {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card = office.personalised_card(OPERATOR, PIN).unwrap();
    let _inserted = office.lab.insert_card(0, &card).unwrap();
    let _daemon = office.start_daemon().unwrap();
    let dev_log = office.dir.join("devlog.sock");
    let log = bind(&dev_log);
    let socket = office.login_socket();

    let wrong = "Wrong9999";
    let service = service_file(
        &office.dir,
        "cardgate-syslog",
        &format!("terminal={TERMINAL} socket={} wait=5", socket.display()),
    )
    .unwrap();
    let mut run =
        Pamtester::spawn_with_dev_log(&service, USER, &[], &["authenticate"], &dev_log).unwrap();
    assert!(run.answer(1, wrong).unwrap());
    let done = run.finish().unwrap();
    assert!(!done.status.success(), "{}", done.stderr);
    let lines: Vec<String> = notifications(&log, Duration::from_millis(500))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let refusal = lines
        .iter()
        .find(|l| {
            l.contains(&format!(
                "authentication refused for user {USER} on terminal {TERMINAL}: wrong_pin (2 PIN tries left)"
            ))
        })
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(refusal.starts_with("<85>"), "{refusal}");
    assert!(!lines.iter().any(|l| l.contains(wrong)), "{lines:?}");

    let typo = service_file(
        &office.dir,
        "cardgate-syslog-typo",
        &format!("termnal={TERMINAL} socket={}", socket.display()),
    )
    .unwrap();
    let run = Pamtester::spawn_with_dev_log(&typo, USER, &[], &["authenticate"], &dev_log).unwrap();
    let done = run.finish().unwrap();
    assert!(!done.status.success(), "{}", done.stderr);
    let lines: Vec<String> = notifications(&log, Duration::from_millis(500))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let error = lines
        .iter()
        .find(|l| l.contains("bad module argument") && l.contains("termnal=juki-01"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(error.starts_with("<83>"), "{error}");
}
