//! The whole story through the real stack, told step by step (the second half of
//! `cargo xtask demo`): a private pcscd with a vsmartcard vpcd reader and the software card in
//! it → cardgated → Linux-PAM (pamtester, with a private /etc/pam.d) → a session opened → the
//! card pulled → the session locked → the card revoked → the login refused → the audit log
//! verified and reviewed.
//!
//! Needs root (private namespaces), like the tests. `cargo xtask demo` builds everything first.
#![forbid(unsafe_code)]

use cardgate_card::Puk;
use cardgate_sim::CardImage;
use cardgate_tests::pamtester::{pamtester, service_file, Finished};
use cardgate_tests::{HarnessError, Office, PcscLab, SoftCardFile, TerminalSpec};
use std::process::ExitCode;

const PUK: &str = "Kitsune12345";
const INITIAL_PIN: &str = "Shoki2026x";
const PIN: &str = "Hanami2027";

fn step(n: u32, text: &str) {
    println!("\n── {n}. {text} ──────────────────────────────────────────");
}

fn show(run: &Finished) {
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        if !line.trim().is_empty() {
            println!("   | {line}");
        }
    }
}

fn fail(what: &str) -> HarnessError {
    HarnessError::CommandFailed {
        what: "demo".into(),
        detail: what.into(),
    }
}

fn run() -> Result<(), HarnessError> {
    println!("cardgate demo, part 2 — the real stack: pcscd, cardgated, PAM");

    step(
        1,
        "A private pcscd with a vpcd reader; the office: issuer key, audit log, revocation list",
    );
    let office = Office::new(
        PcscLab::start()?,
        &[TerminalSpec {
            id: "juki-01".into(),
            slot: 0,
        }],
        &[("op-0042", "tanaka")],
        "",
    )?;
    let reader = office.lab.reader(0).unwrap_or_default().to_owned();
    println!("   reader: {reader}");
    println!("   audit verification key k(0), for the access manager to keep off the machine:");
    println!("   {}", office.audit_key_hex);

    step(
        2,
        "A blank operator card goes into the reader; cardgated starts",
    );
    let blank = SoftCardFile::from_image(
        &office.lab,
        "card",
        CardImage::blank(&Puk::parse(PUK).map_err(|_| fail("PUK"))?),
    )?;
    let mut card = office.lab.serve_card(0, &blank, None)?;
    office.lab.wait_for_card(0)?;
    // The access manager's own card, in a second reader: issuance needs it.
    let manager_reader = office.manager_reader()?;
    println!("   the access manager's card is in {manager_reader}");
    let mut daemon = office.start_daemon()?;
    println!(
        "   cardgated is up (pid {}); it listens on two Unix sockets and nothing else",
        daemon.pid().unwrap_or(0)
    );

    step(
        3,
        "The access manager logs in with their own card and lends the card to op-0042 (art. 5.1)",
    );
    let out = office.ctl_as_manager(
        &[
            "card",
            "issue",
            "--reader",
            &reader,
            "--operator",
            "op-0042",
            "--issuer-dir",
            &office.path("issuer"),
        ],
        &format!("{PUK}\n{INITIAL_PIN}\n"),
    )?;
    if !out.status.success() {
        return Err(fail(&String::from_utf8_lossy(&out.stderr)));
    }
    print!("   {}", String::from_utf8_lossy(&out.stderr));
    let issued = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("   {issued}");
    let serial = issued
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_owned();

    step(
        4,
        "tanaka logs in through PAM: the initial PIN must be changed first, then the session opens",
    );
    let service = service_file(
        &office.dir,
        "cardgate-test",
        &format!(
            "terminal=juki-01 socket={} wait=5 lang=en",
            office.login_socket().display()
        ),
    )?;
    let login = pamtester(
        &service,
        "tanaka",
        &["XDG_SESSION_ID=c1"],
        &["authenticate", "chauthtok", "acct_mgmt", "open_session"],
        &[INITIAL_PIN, INITIAL_PIN, PIN, PIN],
    )?;
    show(&login);
    if !login.status.success() {
        return Err(fail("the login did not open a session"));
    }

    step(
        5,
        "tanaka walks away with the card: the session locks (art. 6.2)",
    );
    card.remove()?;
    let took = office.wait_for_call("lock-session c1")?;
    println!(
        "   loginctl lock-session c1  (seen {} ms after the card left)",
        took.as_millis()
    );

    step(
        6,
        "The card is reported lost: the access manager revokes it (art. 5.4)",
    );
    print!(
        "   {}",
        office.ctl_ok(
            &[
                "card",
                "revoke",
                &serial,
                "--reason",
                "lost",
                "--issuer-dir",
                &office.path("issuer")
            ],
            ""
        )?
    );
    let took = office.wait_for_call("terminate-session c1")?;
    println!(
        "   loginctl terminate-session c1  ({} ms later: the locked session of a revoked card ends)",
        took.as_millis()
    );

    step(
        7,
        "Whoever holds the card now: refused before any PIN is asked",
    );
    let mut card = office.lab.serve_card(0, &blank, None)?;
    office.lab.wait_for_card(0)?;
    let refused = pamtester(&service, "tanaka", &[], &["authenticate"], &[PIN])?;
    show(&refused);
    if refused.status.success() || refused.prompts() != 0 {
        return Err(fail("a revoked card was asked for its PIN or let in"));
    }
    card.remove()?;
    daemon.stop();

    step(
        8,
        "The access manager verifies the record with k(0) and reviews it (art. 7)",
    );
    print!(
        "{}",
        office.ctl_ok(
            &[
                "audit",
                "verify",
                "--dir",
                &office.path("audit"),
                "--key",
                "-"
            ],
            &format!("{}\n", office.audit_key_hex)
        )?
    );
    print!(
        "{}",
        office.ctl_ok(&["audit", "report", "--dir", &office.path("audit")], "")?
    );
    println!("\nThe story is over: issue, first login with the PIN change, removal lock, revocation, review.");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut text = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(s) = cur {
                text.push_str(&format!(": {s}"));
                cur = s.source();
            }
            eprintln!("cardgate-demo: {text}");
            ExitCode::FAILURE
        }
    }
}
