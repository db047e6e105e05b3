//! `cargo xtask demo`: one operator card's whole story through the real stack, told step by
//! step: a private pcscd with a vsmartcard vpcd reader and the software card in it →
//! cardgated → Linux-PAM (pamtester, with a private /etc/pam.d) → the card issued → a session
//! opened after the initial PIN is changed → the card pulled → the session locked → three
//! wrong PINs block the card → the access manager unblocks it with the PUK → the card revoked
//! → the login refused before the PIN → the audit log verified and reviewed.
//!
//! The office is the test harness's standard office (`cardgate_tests::Office::standard`), its
//! secrets `cardgate_tests::fixtures`. Needs root (private namespaces), like the tests.
//! `cargo xtask demo` builds everything first and runs this binary.
#![forbid(unsafe_code)]

use cardgate_card::Puk;
use cardgate_sim::CardImage;
use cardgate_tests::fixtures::{self, INITIAL_PIN, NEW_PIN, OPERATOR, PUK, TERMINAL, USER};
use cardgate_tests::pamtester::{pamtester, service_file, Finished};
use cardgate_tests::{HarnessError, Office, PcscLab, SoftCardFile};
use std::process::ExitCode;

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
    println!("cardgate demo — one operator card, from issue to revocation, through pcscd, cardgated and PAM");

    step(
        1,
        "A private pcscd with a vpcd reader; the office: issuer key, audit log, revocation list",
    );
    // The card's own three tries are what step 6 shows; the daemon's back-off would come first.
    let office = Office::standard(PcscLab::start()?, "[rate_limit]\nfree_failures = 3\n")?;
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
    let serial = office.issue_card(&reader, OPERATOR, PUK, INITIAL_PIN)?;
    println!("   card {serial} lent to {OPERATOR}, with an initial PIN to change at first login");

    step(
        4,
        "tanaka logs in through PAM: the initial PIN must be changed first, then the session opens",
    );
    let service = service_file(
        &office.dir,
        "cardgate-test",
        &format!(
            "terminal={TERMINAL} socket={} wait=5 lang=en",
            office.login_socket().display()
        ),
    )?;
    let login = pamtester(
        &service,
        USER,
        &["XDG_SESSION_ID=c1"],
        &["authenticate", "chauthtok", "acct_mgmt", "open_session"],
        &[INITIAL_PIN, INITIAL_PIN, NEW_PIN, NEW_PIN],
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
        "Someone else finds the card and guesses PINs: three wrong ones block it (art. 5.5)",
    );
    let mut card = office.lab.insert_card(0, &blank)?;
    for guess in ["Guess123", "Tanuki24", "tanuki42"] {
        let run = pamtester(&service, USER, &[], &["authenticate"], &[guess])?;
        show(&run);
        if run.status.success() {
            return Err(fail("a wrong PIN was accepted"));
        }
    }
    let run = pamtester(&service, USER, &[], &["authenticate"], &[NEW_PIN])?;
    show(&run);
    if run.status.success() {
        return Err(fail("a blocked card let the right PIN in"));
    }
    println!("   even the right PIN is refused now");

    step(
        7,
        "The access manager unblocks the card with the PUK and sets a new PIN",
    );
    let out = office.ctl_as_manager(
        &["card", "unblock", "--reader", &reader, "--yes"],
        &format!("{PUK}\n{}\n", fixtures::PIN),
    )?;
    print!("   {}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(fail("the unblock failed"));
    }
    let run = pamtester(&service, USER, &[], &["authenticate"], &[fixtures::PIN])?;
    show(&run);
    if !run.status.success() {
        return Err(fail("the new PIN did not authenticate"));
    }
    println!(
        "   (the new PIN counts as an initial PIN: the operator changes it at the next login)"
    );
    card.remove()?;
    office.lab.wait_for_no_card(0)?;

    step(
        8,
        "The card is reported lost: the access manager revokes it (art. 5.4)",
    );
    print!("   {}", office.revoke_card(&serial, "lost")?);
    let took = office.wait_for_call("terminate-session c1")?;
    println!(
        "   loginctl terminate-session c1  ({} ms later: the locked session of a revoked card ends)",
        took.as_millis()
    );

    step(
        9,
        "Whoever holds the card now: refused before any PIN is asked",
    );
    let mut card = office.lab.serve_card(0, &blank, None)?;
    office.lab.wait_for_card(0)?;
    let refused = pamtester(&service, USER, &[], &["authenticate"], &[fixtures::PIN])?;
    show(&refused);
    if refused.status.success() || refused.prompts() != 0 {
        return Err(fail("a revoked card was asked for its PIN or let in"));
    }
    card.remove()?;
    daemon.stop();

    step(
        10,
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
    println!("\nThe story is over: issue, first login with the PIN change, removal lock, lockout, unblock, revocation, review.");
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
