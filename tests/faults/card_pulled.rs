//! The card pulled at every APDU of every flow, through the real stack, on both cards: the
//! software card (`cardgate-sim serve --remove-after-apdus N`) and the virtual OpenPGP card
//! (`opcard-virt --remove-after-apdus N`, Nitrokey's own firmware), each answering N APDUs
//! and then leaving the reader, for N = 0 up to the whole flow (its ending included). Login
//! and PIN change go through `cardgated`; unblock and issuance through `cardgatectl`. After
//! each pull: nobody is authenticated, the card holds exactly the try counters the APDUs it
//! answered account for (on the OpenPGP card read back by an outside PC/SC client, `GET DATA
//! C4`, before any secret is tried), and the error is clear.
//!
//! One body per flow, with the card kind a parameter ([`Kind`]): what differs is only how a
//! card is made, served and read back, and where in its APDUs each step falls ([`Kind`]'s
//! methods list them).
//!
//! The in-process variant (`SimTransport` pulling before or after APDU n, so also with the
//! card having processed a command whose answer never arrived) covers the card-layer flows.

use cardgate_card::issue::{unblock, IssueRequest};
use cardgate_card::{CardSerial, OperatorCard, Pin, Puk, Role, Verification};
use cardgate_sim::transport::{Faults, SimTransport};
use cardgate_sim::{CardImage, SoftCard};
use cardgate_tests::fixtures::{ADMIN_PIN, NEW_PIN, OPERATOR, PIN, PUK};
use cardgate_tests::openpgp::{self, FACTORY_PW3};
use cardgate_tests::{outcome, CardProcess, Office, VirtualOpenPgpCard};
use cardgate_tests::{PcscLab, SoftCardFile};
use std::time::Duration;

/// Which card a campaign runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `cardgate-sim`: operator-card-v1.
    Sim,
    /// `opcard-virt`: the OpenPGP card v3.4 profile, KDF-DO on after issuance.
    OpenPgp,
}

/// APDUs the OpenPGP card answers at every select (`OperatorCard::select`): SELECT
/// operator-card-v1 (`6A82`), SELECT OpenPGP, VERIFY `P1=FF` for 81, 82, 83, GET DATA `6E`
/// (one short response on opcard), `F9`, `7F21`.
const OPENPGP_SELECT: u64 = 8;
/// APDUs of every operation's ending on the OpenPGP card (`cardgate_card::reselect()`):
/// SELECT operator-card-v1 (`6A82`), SELECT OpenPGP, VERIFY `P1=FF` for 81, 82, 83.
const OPENPGP_ENDING: u64 = 5;

/// Where the steps of the daemon's login fall: the 1-based index of VERIFY and of INTERNAL
/// AUTHENTICATE among the APDUs the card answers, and how many there are in all.
struct LoginApdus {
    verify: u64,
    authenticate: u64,
    total: u64,
}

/// Where the steps of an issuance through `cardgatectl` fall (1-based APDU indices).
struct IssueApdus {
    /// PUT DATA of the certificate: the card is issued once it answered this.
    certificate: u64,
    total: u64,
    /// The OpenPGP card's admin PIN: (CHANGE REFERENCE DATA of PW3 to the KDF's initial
    /// hash, PUT DATA of the KDF-DO, CHANGE REFERENCE DATA of PW3 to the new admin PIN).
    admin_pin_changes: Option<(u64, u64, u64)>,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sim => "sim",
            Kind::OpenPgp => "openpgp",
        }
    }

    /// The daemon's login with the right PIN.
    fn login(self) -> LoginApdus {
        match self {
            // SELECT, VERIFY, INTERNAL AUTHENTICATE, the SELECT that clears the security
            // state.
            Kind::Sim => LoginApdus {
                verify: 2,
                authenticate: 3,
                total: 4,
            },
            // The select (PW1's tries left come with `6E`: a blocked PW1 gets no PIN),
            // VERIFY, INTERNAL AUTHENTICATE, the ending.
            Kind::OpenPgp => LoginApdus {
                verify: OPENPGP_SELECT + 1,
                authenticate: OPENPGP_SELECT + 2,
                total: OPENPGP_SELECT + 2 + OPENPGP_ENDING,
            },
        }
    }

    /// The daemon's PIN change: (CHANGE REFERENCE DATA, all).
    fn pin_change(self) -> (u64, u64) {
        match self {
            // SELECT, CHANGE REFERENCE DATA, the clearing SELECT.
            Kind::Sim => (2, 3),
            // The select, CHANGE REFERENCE DATA, the ending.
            Kind::OpenPgp => (OPENPGP_SELECT + 1, OPENPGP_SELECT + 1 + OPENPGP_ENDING),
        }
    }

    /// `cardgatectl card unblock`: (RESET RETRY COUNTER, all).
    fn unblock(self) -> (u64, u64) {
        match self {
            // The plan's read (SELECT, and the re-select that ends every operation), then
            // SELECT (read the certificate), SELECT, RESET RETRY COUNTER, the ending SELECT.
            Kind::Sim => (5, 6),
            // The same on the OpenPGP card: the plan's select and ending, then two selects
            // and RESET RETRY COUNTER with the Reset Code, the ending.
            Kind::OpenPgp => {
                let reset = 3 * OPENPGP_SELECT + OPENPGP_ENDING + 1;
                (reset, reset + OPENPGP_ENDING)
            }
        }
    }

    /// `cardgatectl card issue` of a blank (sim) or factory-fresh (OpenPGP) card.
    fn issue(self) -> IssueApdus {
        match self {
            // The profile's read (SELECT, the ending SELECT), then SELECT, VERIFY PUK,
            // GENERATE KEY PAIR, RESET RETRY COUNTER, PUT DATA, the ending SELECT.
            Kind::Sim => IssueApdus {
                certificate: 7,
                total: 8,
                admin_pin_changes: None,
            },
            // The profile's read (select, ending), then the select, GET DATA 7F21 (no
            // certificate yet), VERIFY of PW3 (factory), the
            // KDF-DO in GnuPG's order (CHANGE REFERENCE DATA of PW3 to the hash of the
            // factory PIN, VERIFY, RESET RETRY COUNTER P1=02, PUT DATA D3 empty, PUT DATA
            // F9, VERIFY), CHANGE REFERENCE DATA of PW3 to the new admin PIN, VERIFY, PUT
            // DATA D3 (the Reset Code), RESET RETRY COUNTER P1=02 (the initial PIN), PUT DATA
            // C3, GENERATE ASYMMETRIC KEY PAIR, PUT DATA C9, D0, 7F21, the ending.
            Kind::OpenPgp => {
                let start = 2 * OPENPGP_SELECT + OPENPGP_ENDING;
                IssueApdus {
                    certificate: start + 17,
                    total: start + 17 + OPENPGP_ENDING,
                    admin_pin_changes: Some((start + 3, start + 7, start + 9)),
                }
            }
        }
    }

    /// The retry counter of the PUK (operator-card-v1) or of the Reset Code (OpenPGP) on a
    /// card issued with [`PUK`].
    fn puk_tries(self) -> u8 {
        match self {
            Kind::Sim => 10,
            Kind::OpenPgp => 3,
        }
    }

    /// What `cardgatectl card issue` reads on stdin (after the manager's PIN) for this kind
    /// of card, with `admin_pin` as the OpenPGP card's admin PIN now.
    fn issue_stdin(self, admin_pin: &str) -> String {
        match self {
            Kind::Sim => format!("{PUK}\n{PIN}\n"),
            Kind::OpenPgp => format!("{admin_pin}\n{ADMIN_PIN}\n{PUK}\n{PIN}\n"),
        }
    }

    /// A card lent to [`OPERATOR`] with `pin` and [`PUK`] (blocked when asked), as every run
    /// starts it: the software card personalised by the office's issuer, or a factory-fresh
    /// OpenPGP card issued with `cardgatectl card issue` (the daemon must not run yet).
    fn lent_card(self, office: &Office, pin: &str, blocked: bool) -> Snapshot {
        match self {
            Kind::Sim => {
                let image =
                    SoftCardFile::personalised(&office.lab, &office.issuer, OPERATOR, pin, PUK)
                        .unwrap()
                        .image()
                        .clone();
                Snapshot::Sim(Box::new(if blocked { blocked_sim(image) } else { image }))
            }
            Kind::OpenPgp => {
                let card = VirtualOpenPgpCard::factory_fresh(&office.lab, "lent").unwrap();
                let mut inserted = office.lab.insert_openpgp_card(0, &card).unwrap();
                let reader = office.lab.reader(0).unwrap().to_owned();
                office
                    .issue_openpgp_card(&reader, OPERATOR, PUK, pin)
                    .unwrap();
                if blocked {
                    openpgp::block_pw1(&office.lab, 0).unwrap();
                }
                inserted.remove().unwrap();
                office.lab.wait_for_no_card(0).unwrap();
                Snapshot::OpenPgp(card)
            }
        }
    }

    /// A card as it comes to the access manager: blank with [`PUK`] (sim), factory-fresh
    /// (OpenPGP).
    fn blank_card(self) -> Snapshot {
        match self {
            Kind::Sim => Snapshot::Sim(Box::new(CardImage::blank(&Puk::parse(PUK).unwrap()))),
            Kind::OpenPgp => Snapshot::FactoryOpenPgp,
        }
    }
}

/// One card as a campaign keeps it between runs; every run starts from its own copy.
enum Snapshot {
    /// A software card's image.
    Sim(Box<CardImage>),
    /// A virtual OpenPGP card's state (the card not running).
    OpenPgp(VirtualOpenPgpCard),
    /// A factory-fresh OpenPGP card: each run gets a new one.
    FactoryOpenPgp,
}

/// What a card held after a run, read back with it out of the reader: the try counters
/// before any secret was tried, then which of the candidate PINs the card accepts.
#[derive(Debug)]
struct After {
    pin_tries: u8,
    /// The PUK's (operator-card-v1) or the Reset Code's (OpenPGP) tries left.
    puk_tries: u8,
    /// PW3's tries left (OpenPGP only).
    admin_tries: Option<u8>,
    /// Whether the card holds a certificate.
    personalised: bool,
    accepted: Option<String>,
}

/// One run's card, on disk: its own copy of a [`Snapshot`].
enum Live {
    Sim(Box<SoftCardFile>),
    OpenPgp(VirtualOpenPgpCard),
}

impl Live {
    fn new(office: &Office, name: &str, from: &Snapshot) -> Live {
        match from {
            Snapshot::Sim(image) => Live::Sim(Box::new(
                SoftCardFile::from_image(&office.lab, name, (**image).clone()).unwrap(),
            )),
            Snapshot::OpenPgp(card) => Live::OpenPgp(card.copy_as(&office.lab, name).unwrap()),
            Snapshot::FactoryOpenPgp => {
                Live::OpenPgp(VirtualOpenPgpCard::factory_fresh(&office.lab, name).unwrap())
            }
        }
    }

    /// Starts the card in slot 0; it leaves after `n` APDUs when `n` is given.
    fn serve(&self, office: &Office, n: Option<u64>) -> CardProcess {
        match self {
            Live::Sim(file) => office.lab.serve_card(0, file, n).unwrap(),
            Live::OpenPgp(card) => office.lab.serve_openpgp_card(0, card, n).unwrap(),
        }
    }

    /// Inserts the card in slot 0 for good.
    fn insert(&self, office: &Office) -> CardProcess {
        let card = self.serve(office, None);
        office.lab.wait_for_card(0).unwrap();
        card
    }

    /// What the card holds now (it must be out of the reader); `pins` are the candidates
    /// for [`After::accepted`]. The software card's image is read as a file (the PINs tried
    /// on an in-memory copy); the OpenPGP card is inserted again and read by an outside
    /// PC/SC client (`openpgp::inspect`: the counters first, then the PINs through
    /// cardgate's host side, so with the card's KDF-DO).
    fn state(&self, office: &Office, pins: &[&str]) -> After {
        match self {
            Live::Sim(file) => {
                let image = CardImage::load(file.path()).unwrap();
                After {
                    pin_tries: image.pin_tries(),
                    puk_tries: image.puk_tries(),
                    admin_tries: None,
                    personalised: image.is_personalised(),
                    accepted: accepted_pin(&image, pins).map(str::to_owned),
                }
            }
            Live::OpenPgp(_) => {
                let mut card = self.insert(office);
                let seen = openpgp::inspect(&office.lab, 0, pins).unwrap();
                card.remove().unwrap();
                office.lab.wait_for_no_card(0).unwrap();
                After {
                    pin_tries: seen.tries[0],
                    puk_tries: seen.tries[1],
                    admin_tries: Some(seen.tries[2]),
                    personalised: !seen.certificate.is_empty(),
                    accepted: seen.accepted_pin,
                }
            }
        }
    }
}

/// PW3's tries left on a card whose admin PIN nobody got wrong (OpenPGP only).
fn admin_tries(kind: Kind) -> Option<u8> {
    (kind == Kind::OpenPgp).then_some(3)
}

/// Which of `pins` the card in `image` accepts (on an in-memory copy: no try is spent on the
/// image under test). None on a card with no PIN set yet.
fn accepted_pin<'a>(image: &CardImage, pins: &[&'a str]) -> Option<&'a str> {
    if !image.has_pin() {
        return None;
    }
    pins.iter().copied().find(|pin| {
        let mut card = OperatorCard::new(SimTransport::new(SoftCard::in_memory(image.clone())));
        card.select().unwrap();
        card.verify_pin(&Pin::parse(pin).unwrap()).unwrap() == Verification::Verified
    })
}

fn blocked_sim(image: CardImage) -> CardImage {
    let mut card = OperatorCard::new(SimTransport::new(SoftCard::in_memory(image)));
    card.select().unwrap();
    for _ in 0..3 {
        card.verify_pin(&Pin::parse("Wrong9999").unwrap()).unwrap();
    }
    card.into_transport().into_card().into_image()
}

/// Inserts a copy of `from` as a card that leaves after `n` APDUs, runs `flow`, and returns
/// its result with what the card held afterwards ([`Live::state`] with `pins`) and the card,
/// for a follow-up.
fn pulled_after<R>(
    office: &Office,
    name: &str,
    from: &Snapshot,
    n: u64,
    pins: &[&str],
    flow: impl FnOnce() -> R,
) -> (R, After, Live) {
    eprintln!("{name}: the card leaves after {n} APDUs");
    let live = Live::new(office, name, from);
    let mut card = live.serve(office, Some(n));
    if n == 0 {
        // The card leaves as soon as it is in: let it, so the flow surely finds no card.
        card.wait_exit(Duration::from_secs(10)).unwrap();
    } else {
        office.lab.wait_for_card(0).unwrap();
    }
    let result = flow();
    // The flow used fewer than n APDUs only at n past its end: then pull the card by hand.
    card.remove().ok();
    office.lab.wait_for_no_card(0).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let after = live.state(office, pins);
    (result, after, live)
}

fn is_card_gone(reason: &str) -> bool {
    matches!(reason, "no_card" | "card_removed")
}

/// `cardgatectl`'s error output names a card that left (or was never there).
fn says_card_gone(stderr: &str) -> bool {
    let stderr = stderr.to_lowercase();
    ["removed", "card left", "no card", "no smart card"]
        .iter()
        .any(|words| stderr.contains(words))
}

fn login_pulled_at_every_apdu(kind: Kind) {
    let office = Office::standard(
        PcscLab::start().unwrap(),
        // Each wrong PIN here is on a fresh copy of the card: the back-off is tested elsewhere.
        "[rate_limit]\nfree_failures = 50",
    )
    .unwrap();
    let card = kind.lent_card(&office, PIN, false);
    let _daemon = office.start_daemon().unwrap();
    let apdus = kind.login();
    let mut granted = 0;
    for n in 0..=apdus.total {
        let name = format!("{}-login-{n}", kind.name());
        let (answer, after, _) = pulled_after(&office, &name, &card, n, &[], || {
            office.authenticate("juki-01", "tanaka", PIN)
        });
        let got = outcome(&answer);
        if n < apdus.authenticate {
            assert!(is_card_gone(&got), "pulled after {n} APDUs: {answer}");
        } else {
            // The card proved itself before it left: the login stands, and the removal then
            // cancels it before any session opens.
            assert_eq!(got, "granted", "pulled after {n} APDUs: {answer}");
            granted += 1;
        }
        let open = office.open_session("juki-01", "tanaka", &format!("s{n}"));
        assert_ne!(open["result"], "granted", "pulled after {n}: {open}");
        assert!(office.sessions().is_empty(), "pulled after {n}");
        // The right PIN was given: no try lost, whatever the pull.
        assert_eq!(
            (after.pin_tries, after.puk_tries, after.admin_tries),
            (3, kind.puk_tries(), admin_tries(kind)),
            "n={n}"
        );
    }
    assert_eq!(office.count("login_granted"), granted);
    // A wrong PIN: the try is spent exactly when the card answered the VERIFY. The flow has
    // no INTERNAL AUTHENTICATE: one APDU fewer.
    for n in 0..apdus.total {
        let name = format!("{}-wrong-{n}", kind.name());
        let (answer, after, _) = pulled_after(&office, &name, &card, n, &[], || {
            office.authenticate("juki-01", "tanaka", "Wrong9999")
        });
        let answered = n >= apdus.verify;
        let expected_tries = if answered { 2 } else { 3 };
        assert_eq!(after.pin_tries, expected_tries, "n={n}: {answer}");
        assert_eq!(
            (after.puk_tries, after.admin_tries),
            (kind.puk_tries(), admin_tries(kind)),
            "n={n}"
        );
        if answered {
            assert_eq!(
                (outcome(&answer), answer["tries_left"].as_u64()),
                ("wrong_pin".to_owned(), Some(2)),
                "n={n}"
            );
        } else {
            assert!(is_card_gone(&outcome(&answer)), "n={n}: {answer}");
        }
    }
    assert_eq!(office.count("login_granted"), granted);
    office.verify_audit();
}

#[test]
fn login_through_the_daemon_pulled_at_every_apdu() {
    login_pulled_at_every_apdu(Kind::Sim);
}

#[test]
fn openpgp_login_through_the_daemon_pulled_at_every_apdu() {
    login_pulled_at_every_apdu(Kind::OpenPgp);
}

fn pin_change_pulled_at_every_apdu(kind: Kind) {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card = kind.lent_card(&office, PIN, false);
    let _daemon = office.start_daemon().unwrap();
    let (change, total) = kind.pin_change();
    let mut changed = 0;
    for n in 0..=total {
        let name = format!("{}-change-{n}", kind.name());
        let (answer, after, _) = pulled_after(&office, &name, &card, n, &[PIN, NEW_PIN], || {
            office.ask(&format!(
                r#"{{"op":"change_pin","terminal":"juki-01","user":"tanaka","old":"{PIN}","new":"{NEW_PIN}"}}"#
            )).unwrap()
        });
        assert_eq!(after.pin_tries, 3, "n={n}: no try lost");
        if n < change {
            assert!(is_card_gone(&outcome(&answer)), "n={n}: {answer}");
            assert_eq!(
                after.accepted.as_deref(),
                Some(PIN),
                "n={n}: the card never saw the change"
            );
        } else {
            // The card changed the PIN and said so: the answer must say so too.
            assert_eq!(outcome(&answer), "granted", "n={n}: {answer}");
            assert_eq!(after.accepted.as_deref(), Some(NEW_PIN), "n={n}");
            changed += 1;
        }
    }
    assert_eq!(office.count("pin_changed"), changed);
    office.verify_audit();
}

#[test]
fn pin_change_through_the_daemon_pulled_at_every_apdu() {
    pin_change_pulled_at_every_apdu(Kind::Sim);
}

#[test]
fn openpgp_pin_change_through_the_daemon_pulled_at_every_apdu() {
    pin_change_pulled_at_every_apdu(Kind::OpenPgp);
}

fn unblock_pulled_at_every_apdu(kind: Kind) {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let card = kind.lent_card(&office, PIN, true);
    let reader = office.lab.reader(0).unwrap().to_owned();
    let (reset, total) = kind.unblock();
    let mut unblocked = 0;
    for n in 0..=total {
        let name = format!("{}-unblock-{n}", kind.name());
        let (out, after, _) = pulled_after(&office, &name, &card, n, &[PIN, NEW_PIN], || {
            office
                .ctl_as_manager(
                    &["card", "unblock", "--reader", &reader, "--yes"],
                    &format!("{PUK}\n{NEW_PIN}\n"),
                )
                .unwrap()
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            (after.puk_tries, after.admin_tries),
            (kind.puk_tries(), admin_tries(kind)),
            "n={n}: the right PUK costs no try"
        );
        if n < reset {
            assert!(!out.status.success(), "n={n}");
            assert!(says_card_gone(&stderr), "n={n}: unclear error: {stderr}");
            assert_eq!(after.pin_tries, 0, "n={n}: still blocked");
        } else {
            // The card unblocked the PIN and said so; a pull during the ending changes
            // nothing of that.
            assert!(out.status.success(), "n={n}: {stderr}");
            assert_eq!(after.pin_tries, 3, "n={n}");
            assert_eq!(after.accepted.as_deref(), Some(NEW_PIN), "n={n}");
            unblocked += 1;
        }
    }
    // One record per unblock that finished, none for the others.
    assert_eq!(office.count("pin_unblocked"), unblocked);
    office.verify_audit();
}

#[test]
fn unblock_through_cardgatectl_pulled_at_every_apdu() {
    unblock_pulled_at_every_apdu(Kind::Sim);
}

#[test]
fn openpgp_unblock_through_cardgatectl_pulled_at_every_apdu() {
    unblock_pulled_at_every_apdu(Kind::OpenPgp);
}

/// The admin PIN an OpenPGP card pulled after `n` APDUs of its issuance holds (as
/// `cardgatectl card issue` reads it), or `None` in the one window where none does: PW3 is
/// the hash of the factory PIN under a salt that died with the process (see
/// `cardgate_card::openpgp::issue`).
fn admin_pin_in_force(apdus: &IssueApdus, n: u64) -> Option<&'static str> {
    let Some((to_hash, kdf_do, to_new)) = apdus.admin_pin_changes else {
        return Some(FACTORY_PW3);
    };
    if n < to_hash {
        Some(FACTORY_PW3)
    } else if n < kdf_do {
        None
    } else if n < to_new {
        // The KDF-DO holds the salt: the factory PIN, hashed, opens the card.
        Some(FACTORY_PW3)
    } else {
        Some(ADMIN_PIN)
    }
}

fn issuance_pulled_at_every_apdu(kind: Kind) {
    let office = Office::standard(PcscLab::start().unwrap(), "").unwrap();
    let reader = office.lab.reader(0).unwrap().to_owned();
    let issuer_dir = office.path("issuer");
    let issue = |admin_pin: &str| {
        office
            .ctl_as_manager(
                &[
                    "card",
                    "issue",
                    "--reader",
                    &reader,
                    "--operator",
                    OPERATOR,
                    "--issuer-dir",
                    &issuer_dir,
                ],
                &kind.issue_stdin(admin_pin),
            )
            .unwrap()
    };
    let apdus = kind.issue();
    let blank = kind.blank_card();
    let mut reset = 0;
    for n in 0..=apdus.total {
        let name = format!("{}-issue-{n}", kind.name());
        let (out, after, card) =
            pulled_after(&office, &name, &blank, n, &[PIN], || issue(FACTORY_PW3));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // What opens the personalisation was right: it cost no try.
        match kind {
            Kind::Sim => assert_eq!(after.puk_tries, 10, "n={n}: the right PUK costs no try"),
            Kind::OpenPgp => assert_eq!(after.admin_tries, Some(3), "n={n}: no admin PIN try"),
        }
        if n >= apdus.certificate {
            assert!(out.status.success(), "n={n}: {stderr}");
            assert!(after.personalised, "n={n}");
            assert_eq!(after.accepted.as_deref(), Some(PIN), "n={n}");
            continue;
        }
        assert!(!out.status.success(), "n={n}");
        assert!(says_card_gone(&stderr), "n={n}: unclear error: {stderr}");
        // Half-done: no certificate, so a card that nobody can log in with and that a
        // second issuance completes.
        assert!(
            !after.personalised,
            "n={n}: a certificate before the issuance finished"
        );
        let mut inserted = card.insert(&office);
        let daemon = office.start_daemon().unwrap();
        let refused = office.authenticate("juki-01", "tanaka", PIN);
        assert_ne!(refused["result"], "granted", "n={n}: {refused}");
        drop(daemon);
        let again = match admin_pin_in_force(&apdus, n) {
            Some(admin_pin) => issue(admin_pin),
            None => {
                // Neither admin PIN the access manager knows opens the card (each refusal
                // costs a try and is recorded); the factory reset brings it back.
                for (admin_pin, left) in [(FACTORY_PW3, 2), (ADMIN_PIN, 1)] {
                    let refused = issue(admin_pin);
                    let stderr = String::from_utf8_lossy(&refused.stderr);
                    assert!(!refused.status.success(), "n={n}: {admin_pin} opened it");
                    assert!(
                        stderr.contains(&format!("wrong admin PIN, {left} tries left")),
                        "n={n}: {stderr}"
                    );
                }
                openpgp::factory_reset(&office.lab, 0).unwrap();
                reset += 1;
                issue(FACTORY_PW3)
            }
        };
        assert!(
            again.status.success(),
            "n={n}: a card left half-issued cannot be issued again: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        inserted.remove().unwrap();
        office.lab.wait_for_no_card(0).unwrap();
        let done = card.state(&office, &[PIN]);
        assert!(done.personalised, "n={n}");
        assert_eq!(done.accepted.as_deref(), Some(PIN), "n={n}");
    }
    // The window is the four APDUs from PW3's change to the hash to the KDF-DO's PUT DATA.
    let window = apdus
        .admin_pin_changes
        .map_or(0, |(to_hash, kdf_do, _)| kdf_do - to_hash);
    assert_eq!(reset, window as usize);
    // One record and one register line per card issued: the failed attempts left none,
    // and each refused admin PIN was recorded (as a refused PUK, docs/audit.md).
    let runs = (apdus.total + 1) as usize;
    let lent = office.ctl_ok(&["card", "list"], "").unwrap();
    assert_eq!(office.count("card_issued"), runs, "{lent}");
    assert_eq!(lent.lines().count() - 1, runs, "{lent}");
    assert_eq!(office.count("puk_rejected"), 2 * reset);
    office.verify_audit();
}

#[test]
fn issuance_through_cardgatectl_pulled_at_every_apdu() {
    issuance_pulled_at_every_apdu(Kind::Sim);
}

#[test]
fn openpgp_issuance_through_cardgatectl_pulled_at_every_apdu() {
    issuance_pulled_at_every_apdu(Kind::OpenPgp);
}

/// PIN change and unblock in process, pulled before APDU n (never seen by the card) and after
/// it (processed, answer lost): the counters always match what the card processed.
#[test]
fn card_flows_pulled_before_and_after_every_apdu_in_process() {
    let issuer = cardgate_card::IssuerKey::generate().unwrap();
    let puk = Puk::parse(PUK).unwrap();
    let pin = Pin::parse(PIN).unwrap();
    let new_pin = Pin::parse(NEW_PIN).unwrap();
    let request = IssueRequest {
        serial: CardSerial([1, 2, 3, 4, 5, 6, 7, 8]),
        operator_id: "op-0042".into(),
        role: Role::Operator,
        valid_from: time::macros::date!(2020 - 01 - 01),
        valid_until: time::macros::date!(2099 - 12 - 31),
    };
    let personalised = cardgate_sim::create_card(&issuer, &puk, &pin, &request).unwrap();
    let run = |image: &CardImage,
               faults: Faults,
               flow: &dyn Fn(&mut OperatorCard<SimTransport>) -> bool| {
        let mut card = OperatorCard::new(
            SimTransport::new(SoftCard::in_memory(image.clone())).with_faults(faults),
        );
        let ok = flow(&mut card);
        (ok, card.into_transport().into_card().into_image())
    };
    // PIN change: SELECT, CHANGE REFERENCE DATA.
    for n in 0..2 {
        for (faults, processed) in [
            (Faults::new().pull_before(n), n > 1),
            (Faults::new().pull_after(n), n >= 1),
        ] {
            let (ok, after) = run(&personalised, faults, &|c| {
                c.select().is_ok() && c.change_pin(&pin, &new_pin).is_ok()
            });
            assert!(!ok, "n={n}");
            assert_eq!(after.pin_tries(), 3);
            let expected = if processed { NEW_PIN } else { PIN };
            assert_eq!(
                accepted_pin(&after, &[PIN, NEW_PIN]),
                Some(expected),
                "n={n}"
            );
        }
    }
    // Unblock: SELECT, RESET RETRY COUNTER (after the host's own SELECT in `unblock`).
    let blocked_card = blocked_sim(personalised.clone());
    for n in 0..2 {
        for (faults, processed) in [
            (Faults::new().pull_before(n), false),
            (Faults::new().pull_after(n), n == 1),
        ] {
            let (ok, after) = run(&blocked_card, faults, &|c| {
                unblock(c, &puk, &new_pin).is_ok()
            });
            assert!(!ok, "n={n}");
            assert_eq!(after.puk_tries(), 10);
            assert_eq!(after.pin_tries(), if processed { 3 } else { 0 }, "n={n}");
        }
    }
    // Issuance in process: crates/card/tests/issuance_interrupted.rs (the regression test of
    // the bug this campaign found there).
}
