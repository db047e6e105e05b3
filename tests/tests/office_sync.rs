//! The office's state reaching every terminal (issue 13, item 5 and item 6's "a revocation
//! made at the office refuses the card on every terminal"; art. 5.2, 5.4, 15), through the
//! real parts: the access manager's machine (the office: its own `cardgated`, the issuer
//! key, the register, `cardgatectl card issue|revoke` and `office publish`), two more
//! terminal machines (each its own `cardgated`, state directory, audit log, sockets, reader
//! and configuration), OpenSSH's `sshd` on a private port serving the published directory
//! through `rrsync -ro` as docs/integration.md sets it up, and each terminal's pull with the
//! real `cardgatectl office pull` (rsync over ssh). Logins go through PAM with pamtester.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::revocation::RevocationListBuilder;
use cardgate_card::RevocationList;
use cardgate_tests::fixtures::{INITIAL_PIN, NEW_PIN, OPERATOR, PUK, TERMINAL, USER};
use cardgate_tests::pamtester::{pamtester, service_file, Finished};
use cardgate_tests::terminal::{Sshd, Terminal};
use cardgate_tests::{CardProcess, Office, PcscLab, SoftCardFile, TerminalSpec};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Terminal A: refuses logins on a stale list (the default).
const TERMINAL_A: &str = "juki-11";
/// Terminal B: `stale = "warn"`.
const TERMINAL_B: &str = "juki-12";

fn text(out: &Output) -> String {
    format!(
        "{}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn pull(terminal: &Terminal, sshd: &Sshd) -> Output {
    let mut args = vec![
        "office".to_owned(),
        "pull".to_owned(),
        "--from".to_owned(),
        "root@127.0.0.1:/office".to_owned(),
    ];
    args.extend(sshd.pull_options());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    terminal.ctl(&args).unwrap()
}

fn pull_ok(terminal: &Terminal, sshd: &Sshd) -> String {
    let out = pull(terminal, sshd);
    assert!(
        out.status.success(),
        "{} pull: {}\nsshd: {}",
        terminal.id,
        text(&out),
        sshd.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn publish(office: &Office, served: &Path) -> String {
    office
        .ctl_ok(
            &[
                "office",
                "publish",
                "--issuer-dir",
                &office.path("issuer"),
                "--out",
                &served.to_string_lossy(),
            ],
            "",
        )
        .unwrap()
}

fn service(terminal: &Terminal) -> PathBuf {
    service_file(
        &terminal.dir,
        &format!("cardgate-{}", terminal.id),
        &format!(
            "terminal={} socket={} wait=5 lang=en",
            terminal.id,
            terminal.login_socket().display()
        ),
    )
    .unwrap()
}

fn login(terminal: &Terminal, ops: &[&str], answers: &[&str]) -> Finished {
    pamtester(
        &service(terminal),
        USER,
        &["XDG_SESSION_ID=c1"],
        ops,
        answers,
    )
    .unwrap()
}

fn assert_refused(run: &Finished, says: &str) {
    assert!(!run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(says), "no {says:?} in:\n{}", run.stderr);
}

/// Moves the card to `slot`: out of the reader it is in, into `slot`'s.
fn move_card(office: &Office, card: &mut CardProcess, file: &SoftCardFile, slot: usize) {
    card.remove().unwrap();
    *card = office.lab.insert_card(slot, file).unwrap();
}

fn register_entry(terminal: &Terminal, serial: &str) -> serde_json::Value {
    let path = terminal.state_dir().join("cards.json");
    let register: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    register["cards"][serial].clone()
}

/// Every record of a terminal's audit log, as its segment files hold them.
fn audit_text(terminal: &Terminal) -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push_str(&text);
            }
        }
    }
    let mut out = String::new();
    walk(&terminal.dir.join("audit"), &mut out);
    out
}

#[test]
fn the_offices_state_reaches_every_terminal_over_ssh_and_a_rollback_is_refused() {
    // Slot 0: the office's own reader (issuing); 1: terminal A; 2: terminal B; 3: the
    // access manager's card.
    let office = Office::new(
        PcscLab::with_readers(4).unwrap(),
        &[TerminalSpec {
            id: TERMINAL,
            slot: 0,
        }],
        &[(OPERATOR, USER)],
        "",
    )
    .unwrap();
    let _office_daemon = office.start_daemon().unwrap();
    let served = office.dir.join("served");
    let published = served.join("office");
    std::fs::create_dir_all(&published).unwrap();
    let sshd = Sshd::start(&office.dir.join("sshd"), &served).unwrap();

    // The access manager lends a blank card at the office, with an initial PIN (art. 5.1).
    let blank = SoftCardFile::blank(&office.lab, "blank", PUK).unwrap();
    let mut card = office.lab.insert_card(0, &blank).unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let serial = office
        .issue_card(&reader, OPERATOR, PUK, INITIAL_PIN)
        .unwrap();
    let said = publish(&office, &published);
    assert!(said.contains("version 1"), "{said}");
    let v1_state = std::fs::read(published.join("office.state")).unwrap();
    let v1_list = std::fs::read(published.join("revoked.crl")).unwrap();

    // Two terminals that have never seen the office's state: their first pull gives them
    // the list (without which their daemon would refuse every login) and the register.
    let operators = [(OPERATOR, USER)];
    let mut a = Terminal::new(&office, TERMINAL_A, 1, &operators, "").unwrap();
    let mut b = Terminal::new(&office, TERMINAL_B, 2, &operators, "stale = \"warn\"").unwrap();
    for t in [&a, &b] {
        let said = pull_ok(t, &sshd);
        assert!(
            said.contains("applied office state version 1")
                && said.contains("revocation list version 1 installed")
                && said.contains("1 added"),
            "{said}"
        );
        assert_eq!(register_entry(t, &serial)["must_change_pin"], true);
    }
    a.start(&office).unwrap();
    b.start(&office).unwrap();

    // Issued at the office, the card must change its initial PIN at its first login on
    // terminal A, which never saw it issued.
    move_card(&office, &mut card, &blank, 1);
    let run = login(&a, &["authenticate", "acct_mgmt"], &[INITIAL_PIN]);
    assert_refused(&run, "You must change the initial PIN now.");
    let run = login(
        &a,
        &["authenticate", "chauthtok", "acct_mgmt", "open_session"],
        &[INITIAL_PIN, INITIAL_PIN, NEW_PIN, NEW_PIN],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(register_entry(&a, &serial)["must_change_pin"], false);

    // The office publishes again (its register still asks for the change, it never heard
    // of it): the merge keeps the change made on A, and the next login there just works.
    assert!(publish(&office, &published).contains("version 2"));
    let said = pull_ok(&a, &sshd);
    assert!(
        said.contains("version 2") && said.contains("1 where this terminal knows more"),
        "{said}"
    );
    assert_eq!(register_entry(&a, &serial)["must_change_pin"], false);
    let run = login(&a, &["authenticate", "acct_mgmt"], &[NEW_PIN]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);

    // Freshness (art. 5.4): the last list a terminal received is past its next update (the
    // office stopped refreshing it). A (stale = "refuse") refuses the login, B (stale =
    // "warn") lets it authenticate.
    let stale = {
        let in_force = RevocationList::verify(
            &std::fs::read(office.dir.join("state/revoked.crl")).unwrap(),
            &office.issuer.public_key(),
        )
        .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut builder =
            RevocationListBuilder::new(in_force.version() + 1, now - 2 * 86_400, now - 60);
        for (s, r) in in_force.entries() {
            builder.revoke(s, r);
        }
        builder.sign(&office.issuer).unwrap()
    };
    let stale_version = RevocationList::verify(&stale, &office.issuer.public_key())
        .unwrap()
        .version();
    std::fs::write(office.dir.join("state/revoked.crl"), &stale).unwrap();
    publish(&office, &published);
    for t in [&a, &b] {
        pull_ok(t, &sshd);
        t.wait_for_list_version(stale_version).unwrap();
    }
    let run = login(&a, &["authenticate"], &[NEW_PIN]);
    assert_refused(&run, "authentication service is unavailable");
    assert!(
        audit_text(&a).contains("\"revocation_list_stale\""),
        "A recorded no stale-list refusal"
    );
    move_card(&office, &mut card, &blank, 2);
    // B never heard of the PIN change (it was made on A): it asks for one too, but the
    // stale list does not stop the authentication.
    let run = login(&b, &["authenticate"], &[NEW_PIN]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);

    // The access manager revokes the card at the office (a fresh list again) and publishes;
    // every terminal pulls, and the card is refused on every terminal.
    office
        .ctl_ok(
            &[
                "revocation",
                "refresh",
                "--issuer-dir",
                &office.path("issuer"),
                "--list",
                &office.path("state/revoked.crl"),
            ],
            "",
        )
        .unwrap();
    office.revoke_card(&serial, "lost").unwrap();
    let said = publish(&office, &published);
    assert!(said.contains("version 4"), "{said}");
    let revoked_version = stale_version + 2;
    for t in [&a, &b] {
        let said = pull_ok(t, &sshd);
        assert!(
            said.contains(&format!(
                "revocation list version {revoked_version} installed"
            )) && said.contains("1 withdrawn"),
            "{said}"
        );
        t.wait_for_list_version(revoked_version).unwrap();
        assert_eq!(register_entry(t, &serial)["state"], "revoked");
    }
    let run = login(&b, &["authenticate"], &[NEW_PIN]);
    assert_refused(&run, "revoked");
    move_card(&office, &mut card, &blank, 1);
    let run = login(&a, &["authenticate"], &[NEW_PIN]);
    assert_refused(&run, "revoked");
    // The daemons recorded each list they took (revocation_list_loaded) in their own
    // audit logs: the stale one and the one with the revocation.
    for t in [&a, &b] {
        let audit = audit_text(t);
        for version in [stale_version, revoked_version] {
            assert!(
                audit.contains(&format!("\"version\":{version}")),
                "{}: no revocation_list_loaded of version {version}",
                t.id
            );
        }
        assert!(audit.contains("\"revocation_list_loaded\""), "{}", t.id);
    }

    // Someone puts the office copy of version 1 back: terminal A refuses it (exit 4), says
    // so in its status, and keeps the revocation in force.
    std::fs::write(published.join("revoked.crl"), &v1_list).unwrap();
    std::fs::write(published.join("office.state"), &v1_state).unwrap();
    let out = pull(&a, &sshd);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("rollback refused"), "{}", text(&out));
    assert_eq!(a.list_version(), Some(revoked_version));
    assert_eq!(register_entry(&a, &serial)["state"], "revoked");
    let status = a.ctl(&["--json", "office", "status"]).unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["result"], "refused_rollback", "{status}");
    // `cardgatectl status` shows it too, beside the daemon's own state.
    let whole = a.ctl(&["--json", "status"]).unwrap();
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert_eq!(whole["office"]["result"], "refused_rollback", "{whole}");
    // A tampered copy is refused too (exit 6), naming the file.
    let mut tampered = std::fs::read(published.join("office.state")).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(published.join("office.state"), &tampered).unwrap();
    let out = pull(&b, &sshd);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("office.state"), "{}", text(&out));
    assert_eq!(b.list_version(), Some(revoked_version));
    // A link at the office is never followed: rsync skips it, and the pull fails without the
    // previous pull's copy standing in for it.
    std::fs::remove_file(published.join("office.state")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", published.join("office.state")).unwrap();
    let out = pull(&b, &sshd);
    assert!(!out.status.success(), "{}", text(&out));
    let fetched = b.state_dir().join("office-incoming/office.state");
    assert!(!fetched.exists(), "{}: {}", fetched.display(), text(&out));
    assert_eq!(b.list_version(), Some(revoked_version));
}
