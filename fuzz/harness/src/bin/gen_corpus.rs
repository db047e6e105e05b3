//! Writes the committed seed corpora under `fuzz/corpus/<target>/`, and the reference audit
//! log under `fuzz/harness/fixtures/audit/` (only when it is missing, or with `--fresh-audit`:
//! the `audit_verify` seeds and harness must agree on it).
//!
//! Every valid seed comes from the real code: login and issuance transcripts recorded from
//! the software card, certificates it was issued with, lists signed by the builder, lines of
//! a log written by `cardgate-audit`. The malformed seeds are derived from those.
//!
//! Usage: `cargo run --release --manifest-path fuzz/Cargo.toml --bin cardgate-fuzz-corpus
//! [-- --fresh-audit]`, then `cargo build` again (the harness embeds the audit fixture).
#![forbid(unsafe_code)]

use cardgate_audit::record::{AuthFailure, DenyReason, EndReason, LockReason, NoteKind};
use cardgate_audit::{AuditConfig, AuditLog, Entry, Event, Label, Text};
use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::issue::{issue_card, IssueRequest};
use cardgate_card::login::{login, LoginPolicy};
use cardgate_card::revocation::{Revocation, RevocationListBuilder};
use cardgate_card::{OperatorCard, RevocationReason, SecretString};
use cardgate_fuzz_harness::fixtures::{self, issuer, pin, puk, wire, PIN, PUK};
use cardgate_fuzz_harness::{chunks, softcard};
use cardgate_reader::{CardTransport, TransportError};
use cardgate_sim::{create_card, CardImage, SimTransport, SoftCard};
use std::fs;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Records every command and response that passes through.
struct Recorder<T> {
    inner: T,
    commands: Vec<Vec<u8>>,
    responses: Vec<Vec<u8>>,
}

impl<T: CardTransport> CardTransport for Recorder<T> {
    fn transmit(
        &mut self,
        command: &[u8],
    ) -> std::result::Result<Zeroizing<Vec<u8>>, TransportError> {
        self.commands.push(command.to_vec());
        let r = self.inner.transmit(command)?;
        self.responses.push(r.to_vec());
        Ok(r)
    }
    fn reader_name(&self) -> &str {
        self.inner.reader_name()
    }
}

fn record(image: CardImage) -> (Vec<u8>, Recorder<SimTransport>) {
    let transport = SimTransport::new(SoftCard::in_memory(image));
    let atr = transport.atr().to_vec();
    (
        atr,
        Recorder {
            inner: transport,
            commands: Vec::new(),
            responses: Vec::new(),
        },
    )
}

/// A login against `image` with `pin_text`; returns the ATR + responses script, and the
/// commands the host sent.
fn login_script(image: CardImage, pin_text: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (atr, mut rec) = record(image);
    let public = issuer().public_key();
    let policy = LoginPolicy {
        issuer: &public,
        revocation: fixtures::revocation_list(),
        today: fixtures::TODAY,
    };
    let _ = login(&mut rec, &policy, &SecretString::new(pin_text.to_owned()));
    let mut script = vec![atr];
    script.extend(rec.responses);
    (chunks::join(&script), rec.commands)
}

fn card_with(
    serial: CardSerial,
    role: Role,
    from: time::Date,
    until: time::Date,
) -> Result<CardImage> {
    let request = IssueRequest {
        serial,
        operator_id: "op-0077".into(),
        role,
        valid_from: from,
        valid_until: until,
    };
    Ok(create_card(issuer(), &puk(), &pin(), &request)?)
}

struct Out {
    root: PathBuf,
    count: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)?;
        self.count += 1;
        Ok(())
    }
}

fn card_login(out: &mut Out) -> Result<Vec<Vec<u8>>> {
    use time::macros::date;
    let (ok, commands) = login_script(fixtures::personalised_card(), PIN);
    out.put("card_login", "login-ok", &ok)?;
    out.put(
        "card_login",
        "login-wrong-pin",
        &login_script(fixtures::personalised_card(), "Kappa777").0,
    )?;
    let mut blocked = fixtures::personalised_card();
    {
        let mut t = SimTransport::new(SoftCard::in_memory(blocked.clone()));
        let mut card = OperatorCard::new(&mut t);
        card.select()?;
        for _ in 0..3 {
            card.verify_pin(&cardgate_card::Pin::parse("Kappa777")?)?;
        }
        blocked = t.into_card().into_image();
    }
    out.put("card_login", "login-blocked", &login_script(blocked, PIN).0)?;
    let revoked = card_with(
        fixtures::REVOKED_SERIAL,
        Role::Operator,
        date!(2026 - 04 - 01),
        date!(2027 - 03 - 31),
    )?;
    out.put("card_login", "login-revoked", &login_script(revoked, PIN).0)?;
    let expired = card_with(
        CardSerial([1; 8]),
        Role::AccessManager,
        date!(2025 - 04 - 01),
        date!(2026 - 03 - 31),
    )?;
    out.put("card_login", "login-expired", &login_script(expired, PIN).0)?;
    let blank = CardImage::blank(&puk());
    out.put(
        "card_login",
        "login-blank-card",
        &login_script(blank.clone(), PIN).0,
    )?;

    // Issuance of a blank card.
    let (atr, mut rec) = record(blank);
    {
        let mut card = OperatorCard::new(&mut rec);
        issue_card(
            &mut card,
            issuer(),
            &puk(),
            &fixtures::issue_request(),
            &pin(),
        )?;
    }
    let mut script = vec![atr];
    script.extend(rec.responses.iter().cloned());
    out.put("card_login", "issue-ok", &chunks::join(&script))?;
    let issue_commands = rec.commands;

    // The same login, answered in pieces (61xx + GET RESPONSE) and after a 6Cxx.
    let parts = chunks::split(&ok);
    let owned: Vec<Vec<u8>> = parts.iter().map(|c| c.to_vec()).collect();
    if let Some(select) = owned.get(1) {
        let data = &select[..select.len() - 2];
        let cut = data.len() / 2;
        let rest = data.len() - cut;
        let mut first = data[..cut].to_vec();
        first.extend_from_slice(&[0x61, rest as u8]);
        let mut second = data[cut..].to_vec();
        second.extend_from_slice(&[0x90, 0x00]);
        let mut chained = vec![owned[0].clone(), first, second];
        chained.extend(owned[2..].iter().cloned());
        out.put("card_login", "login-get-response", &chunks::join(&chained))?;
        let mut wrong_le = vec![owned[0].clone(), vec![0x6C, 0x00]];
        wrong_le.extend(owned[1..].iter().cloned());
        out.put("card_login", "login-wrong-le", &chunks::join(&wrong_le))?;
    }
    // Malformed: the card pulled after SELECT, a response without a status word, an empty
    // script and a non-cardgate ATR.
    out.put(
        "card_login",
        "bad-pulled-after-select",
        &chunks::join(&owned[..owned.len().min(2)]),
    )?;
    let mut no_sw = owned.clone();
    if let Some(r) = no_sw.get_mut(2) {
        r.truncate(1);
    }
    out.put("card_login", "bad-no-status-word", &chunks::join(&no_sw))?;
    out.put("card_login", "bad-empty", &[])?;
    let mut foreign = owned.clone();
    foreign[0] = vec![
        0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06,
    ];
    out.put("card_login", "bad-foreign-atr", &chunks::join(&foreign))?;
    let mut all_commands = commands;
    all_commands.extend(issue_commands);
    Ok(all_commands)
}

fn softcard_apdu(out: &mut Out, host_commands: &[Vec<u8>]) -> Result<()> {
    let select = {
        let mut a = vec![0x00, 0xA4, 0x04, 0x00, 0x0A];
        a.extend_from_slice(&cardgate_card::AID);
        a.push(0x00);
        a
    };
    let verify = |p2: u8, secret: &str| {
        let mut a = vec![0x00, 0x20, 0x00, p2, 0x10];
        a.extend_from_slice(&wire(secret));
        a
    };
    let two = |ins: u8, a: &str, b: &str| {
        let mut c = vec![0x00, ins, 0x00, 0x81, 0x20];
        c.extend_from_slice(&wire(a));
        c.extend_from_slice(&wire(b));
        c
    };
    let mut auth = vec![0x00, 0x88, 0x00, 0x00, 0x20];
    auth.extend_from_slice(&[0x5A; 32]);
    auth.push(0x00);
    let get_data = vec![0x00, 0xCA, 0x7F, 0x21, 0x00];
    let power = |n: u16| n.to_be_bytes().to_vec();

    let with_choice = |choice: u8, apdus: &[Vec<u8>]| {
        let mut v = vec![choice];
        v.extend(chunks::join(apdus));
        v
    };
    // The host's own commands: everything a login and an issuance send.
    let (login_cmds, issue_cmds) = host_commands.split_at(host_commands.len().min(4));
    out.put("softcard_apdu", "host-login", &with_choice(0, login_cmds))?;
    out.put("softcard_apdu", "host-issue", &with_choice(1, issue_cmds))?;
    out.put(
        "softcard_apdu",
        "session",
        &with_choice(
            0,
            &[
                select.clone(),
                verify(0x81, PIN),
                auth.clone(),
                get_data.clone(),
                two(0x24, PIN, "Kappa777"),
                verify(0x81, "Kappa777"),
                vec![0x00, 0x20, 0x00, 0x81],
            ],
        ),
    )?;
    out.put(
        "softcard_apdu",
        "block-and-unblock",
        &with_choice(
            0,
            &[
                select.clone(),
                verify(0x81, "Wrong999"),
                verify(0x81, "Wrong999"),
                verify(0x81, "Wrong999"),
                verify(0x81, PIN),
                two(0x2C, PUK, "Kappa777"),
                verify(0x81, "Kappa777"),
            ],
        ),
    )?;
    out.put(
        "softcard_apdu",
        "reset-between",
        &with_choice(0, &[select.clone(), verify(0x81, PIN)]),
    )?;
    // The `FFFF`/`FFFE` action markers between APDUs (their declared length is the action).
    let mut actions = vec![0u8];
    actions.extend(chunks::join(&[select.clone(), verify(0x81, PIN)]));
    actions.extend(power(softcard::POWER_CYCLE));
    actions.extend(chunks::join(&[
        auth.clone(),
        select.clone(),
        verify(0x81, PIN),
    ]));
    actions.extend(power(softcard::RESET));
    actions.extend(chunks::join(&[auth.clone()]));
    out.put("softcard_apdu", "power-cycle-and-reset", &actions)?;
    out.put(
        "softcard_apdu",
        "blank-personalise",
        &with_choice(
            1,
            &[
                select.clone(),
                verify(0x82, PUK),
                vec![0x00, 0x47, 0x80, 0x00, 0x00],
                two(0x2C, PUK, PIN),
            ],
        ),
    )?;
    out.put(
        "softcard_apdu",
        "bad-apdus",
        &with_choice(
            0,
            &[
                vec![],
                vec![0x00],
                vec![0x80, 0xA4, 0x04, 0x00],
                vec![0x00, 0xFF, 0, 0],
                vec![0x00, 0xA4, 0x04, 0x00, 0x00, 0x01],
                vec![0x00, 0x20, 0x00, 0x83, 0x10],
            ],
        ),
    )?;
    Ok(())
}

fn certificates(out: &mut Out) -> Result<()> {
    use time::macros::date;
    let card = fixtures::personalised_card();
    let cert = card
        .certificate()
        .ok_or("the test card has no certificate")?
        .encode();
    out.put("certificate", "operator", &cert)?;
    let manager = card_with(
        CardSerial([9; 8]),
        Role::AccessManager,
        date!(2026 - 01 - 01),
        date!(2030 - 12 - 31),
    )?;
    let manager = manager.certificate().ok_or("no certificate")?.encode();
    out.put("certificate", "manager", &manager)?;
    let mut flipped = cert.clone();
    flipped[40] ^= 0x01;
    out.put("certificate", "bad-flipped", &flipped)?;
    out.put("certificate", "bad-truncated", &cert[..cert.len() / 2])?;
    let mut long_form = vec![0x7F, 0x21, 0x82, 0x00, cert[3]];
    long_form.extend_from_slice(&cert[4..]);
    out.put("certificate", "bad-non-minimal-length", &long_form)?;
    out.put("certificate", "text-serial", b"C0FFEE0000000042")?;
    out.put("certificate", "text-date", b"2027-03-31")?;
    out.put(
        "certificate",
        "text-issuer-key",
        issuer().public_key().to_hex().as_bytes(),
    )?;
    // Regression (found by the stable runner): a sign inside hex was read as a digit.
    let mut signed_hex = issuer().public_key().to_hex().into_bytes();
    signed_hex[32] = b'+';
    out.put("certificate", "regress-sign-in-hex-key", &signed_hex)?;
    out.put(
        "certificate",
        "regress-sign-in-hex-serial",
        b"C0FFEE00+0000042",
    )?;
    Ok(())
}

fn revocation_lists(out: &mut Out) -> Result<()> {
    let mut put_list = |name: &str, serials: &[u64]| -> Result<()> {
        let mut b = RevocationListBuilder::new(12, 1_780_000_000, 1_790_000_000);
        for (i, &s) in serials.iter().enumerate() {
            b.revoke(
                CardSerial(s.to_be_bytes()),
                Revocation {
                    revoked_at: 1_779_000_000 + i as i64,
                    reason: RevocationReason::ALL[i % RevocationReason::ALL.len()],
                },
            );
        }
        let bytes = b.sign(issuer())?;
        let mut raw = vec![0u8];
        raw.extend_from_slice(&bytes);
        out.put("revocation_list", &format!("{name}-signed"), &raw)?;
        // Structure mode: the body without its signature (the harness signs it).
        let mut body = vec![1u8];
        body.extend_from_slice(&bytes[..bytes.len() - 64]);
        out.put("revocation_list", &format!("{name}-structure"), &body)?;
        Ok(())
    };
    put_list("empty", &[])?;
    put_list("one", &[0xC0FF_EE00_0000_0042])?;
    put_list(
        "fifty",
        &(0..50u64).map(|i| 0x1000 + i * 7).collect::<Vec<_>>(),
    )?;
    let mut fixture = vec![0u8];
    fixture.extend_from_slice(fixtures::revocation_list_bytes());
    let mut truncated = fixture.clone();
    truncated.truncate(60);
    out.put("revocation_list", "bad-truncated", &truncated)?;
    let mut unsorted = vec![3u8];
    unsorted.extend_from_slice(&fixtures::revocation_list_bytes()[..41]);
    unsorted.extend_from_slice(&[0xFF; 17]);
    unsorted.extend_from_slice(&[0x00; 17]);
    out.put("revocation_list", "bad-unsorted-structure", &unsorted)?;
    Ok(())
}

/// Writes the reference log with the real writer, unless one is already committed.
fn reference_log(fixture_dir: &Path, fresh: bool) -> Result<()> {
    let segment = fixture_dir.join("audit-00000001.jsonl");
    if !fresh && fs::metadata(&segment).map(|m| m.len() > 0).unwrap_or(false) {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("cardgate-fuzz-gen-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let terminal = Label::new("juki-t01")?;
    let k0 = AuditLog::init(&dir, terminal.clone(), &cardgate_audit::SystemClock)?;
    let mut config = AuditConfig::new(&dir, terminal);
    config.seal_every_records = 6;
    let (log, _) = AuditLog::open(config)?;
    let reader = Label::new("Virtual PCD 00 00")?;
    let op = Label::new("op-0042")?;
    let card = fixtures::CARD_SERIAL;
    let manager = Label::new("suzuki")?;
    let events = vec![
        Entry::new(Event::DaemonStarted {
            version: Label::new("0.1.0")?,
        }),
        Entry::new(Event::RevocationListLoaded {
            version: 7,
            entries: 1,
        }),
        Entry::new(Event::CardIssued {
            by: manager.clone(),
            role: Role::Operator,
        })
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::CardInserted)
            .reader(reader.clone())
            .card(card),
        Entry::new(Event::PinVerified {
            correct: false,
            tries_left: Some(2),
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::LoginDenied {
            reason: DenyReason::WrongPin,
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::PinVerified {
            correct: true,
            tries_left: None,
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::CardAuthPassed)
            .reader(reader.clone())
            .card(card)
            .operator(op.clone()),
        Entry::new(Event::LoginGranted {
            role: Role::Operator,
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::SessionLocked {
            reason: LockReason::CardRemoved,
            session_type: None,
            locked_hint: None,
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::CardRemoved)
            .reader(reader.clone())
            .card(card),
        Entry::new(Event::CardAuthFailed {
            reason: AuthFailure::BadSignature,
        })
        .reader(reader.clone()),
        Entry::new(Event::SessionEnded {
            reason: EndReason::Logout,
            session_type: None,
            logind_state: None,
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::RevokedCardPresented {
            reason: RevocationReason::Lost,
        })
        .reader(reader.clone())
        .card(fixtures::REVOKED_SERIAL),
        Entry::new(Event::CardRevoked {
            by: manager.clone(),
            reason: RevocationReason::Stolen,
        })
        .card(fixtures::REVOKED_SERIAL),
        Entry::new(Event::Note {
            note: NoteKind::RoomEntry,
            text: Text::new("保守業者の入室 (maintenance visit)")?,
            who: Some(Label::new("vendor-01")?),
            escort: Some(manager.clone()),
            by: Some(Label::new("uid 1001 (yamada)")?),
        }),
        Entry::new(Event::PukRejected {
            by: manager.clone(),
            tries_left: 9,
        })
        .reader(reader.clone())
        .card(card)
        .operator(op.clone()),
        Entry::new(Event::PukBlocked {
            by: manager.clone(),
        })
        .reader(reader.clone()),
        Entry::new(Event::ManagerRefused {
            by: manager.clone(),
            reason: DenyReason::WrongPin,
            tries_left: Some(2),
        })
        .reader(reader.clone()),
        Entry::new(Event::PinChanged)
            .reader(reader.clone())
            .card(card)
            .operator(op.clone()),
    ];
    for e in events {
        log.append(e)?;
    }
    log.close()?;
    fs::create_dir_all(fixture_dir)?;
    fs::copy(dir.join("audit-00000001.jsonl"), &segment)?;
    fs::copy(dir.join("seal.key"), fixture_dir.join("seal.key"))?;
    fs::write(
        fixture_dir.join("k0.hex"),
        format!("{}\n", k0.to_hex().as_str()),
    )?;
    let _ = fs::remove_dir_all(&dir);
    eprintln!("wrote a new reference audit log; rebuild the harness before fuzzing");
    Ok(())
}

fn audit(out: &mut Out, fixture_dir: &Path) -> Result<()> {
    let segment = fs::read(fixture_dir.join("audit-00000001.jsonl"))?;
    let lines: Vec<&[u8]> = segment
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for (i, line) in lines.iter().enumerate() {
        out.put("audit_record", &format!("line-{i:02}"), line)?;
    }
    let first = lines.first().ok_or("empty reference log")?;
    let mut spaced = first.to_vec();
    spaced.insert(1, b' ');
    out.put("audit_record", "bad-not-canonical", &spaced)?;
    out.put("audit_record", "bad-truncated", &first[..first.len() / 2])?;
    out.put("audit_record", "text-time", b"2026-06-01T09:00:00.000Z")?;

    out.put("audit_verify", "reference", &segment)?;
    let cut = lines.len() / 2;
    let mut two = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i == cut {
            two.push(0xFF);
        }
        two.extend_from_slice(l);
        two.push(b'\n');
    }
    out.put("audit_verify", "two-segments", &two)?;
    let mut swapped: Vec<&[u8]> = lines.clone();
    swapped.swap(3, 4);
    out.put(
        "audit_verify",
        "bad-swapped",
        &[swapped.join(&b'\n'), vec![b'\n']].concat(),
    )?;
    let mut dropped = lines.clone();
    dropped.remove(5);
    out.put(
        "audit_verify",
        "bad-dropped",
        &[dropped.join(&b'\n'), vec![b'\n']].concat(),
    )?;
    let last_nl = segment[..segment.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap_or(0);
    out.put("audit_verify", "bad-cut-last-line", &segment[..last_nl + 1])?;
    out.put("audit_verify", "bad-torn", &segment[..segment.len() - 5])?;
    Ok(())
}

fn socket_requests(out: &mut Out) -> Result<()> {
    let requests: [(&str, &str); 18] = [
        (
            "probe",
            r#"{"op":"probe","terminal":"juki-01","user":"tanaka"}"#,
        ),
        (
            "authenticate",
            r#"{"op":"authenticate","terminal":"juki-01","user":"tanaka","pin":"Tanuki42"}"#,
        ),
        (
            "change-pin",
            r#"{"op":"change_pin","terminal":"juki-01","user":"tanaka","old":"Tanuki42","new":"Kappa777"}"#,
        ),
        (
            "open-session",
            r#"{"op":"open_session","terminal":"juki-01","user":"tanaka","session_id":"c2"}"#,
        ),
        (
            "close-session",
            r#"{"op":"close_session","user":"tanaka","session_id":"c2"}"#,
        ),
        ("status", r#"{"op":"status"}"#),
        ("sessions", r#"{"op":"sessions"}"#),
        (
            "card-issued",
            r#"{"op":"card_issued","serial":"C0FFEE0000000042","operator":"op-0042","role":"operator","reader":"Virtual PCD 00 00","manager":"4D47524341524431","manager_reader":"Virtual PCD 00 01"}"#,
        ),
        (
            "card-returned",
            r#"{"op":"card_returned","serial":"C0FFEE0000000042"}"#,
        ),
        (
            "pin-unblocked",
            r#"{"op":"pin_unblocked","serial":"C0FFEE0000000042","reader":"Virtual PCD 00 00"}"#,
        ),
        (
            "puk-rejected",
            r#"{"op":"puk_rejected","serial":"C0FFEE0000000042","reader":"Virtual PCD 00 00","tries_left":9}"#,
        ),
        (
            "manager-refused",
            r#"{"op":"manager_refused","serial":"C0FFEE0000000042","reader":"Virtual PCD 00 01","reason":"not_authorised_here"}"#,
        ),
        (
            "puk-blocked",
            r#"{"op":"puk_blocked","reader":"Virtual PCD 00 00"}"#,
        ),
        (
            "card-revoked",
            r#"{"op":"card_revoked","serial":"C0FFEE0000000042","reason":"lost"}"#,
        ),
        (
            "note",
            r#"{"op":"note","kind":"room-entry","text":"保守業者の入室","who":"vendor-01","escort":"suzuki"}"#,
        ),
        (
            "bad-unknown-field",
            r#"{"op":"probe","terminal":"t","user":"u","x":1}"#,
        ),
        (
            "bad-pin-number",
            r#"{"op":"authenticate","terminal":"t","user":"u","pin":12345678}"#,
        ),
        ("bad-unknown-op", r#"{"op":"format_disk"}"#),
    ];
    for (name, text) in requests {
        out.put("socket_request", name, text.as_bytes())?;
    }
    let mut big = br#"{"op":"note","kind":"other","text":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 4100));
    big.extend_from_slice(br#""}"#);
    out.put("socket_request", "bad-over-cap", &big)?;
    Ok(())
}

fn configs(out: &mut Out) -> Result<()> {
    let minimal = "[[terminal]]\nid = \"juki-01\"\nreader = \"Virtual PCD 00 00\"\n\n[operators]\n\"op-0042\" = \"tanaka\"\n";
    let documented = "[daemon]\nadmin_group = \"juki-admin\"\n\n[revocation]\nstale = \"refuse\"\n\n[session]\non_removal = \"lock\"\n\n[business_hours]\nstart = \"08:30\"\nend = \"17:15\"\n\n[[terminal]]\nid = \"juki-01\"\nreader = \"Virtual PCD 00 00\"\n\n[operators]\n\"op-0042\" = \"tanaka\"\n";
    let full = r#"[daemon]
login_socket = "/run/cardgate/login.sock"
admin_socket = "/run/cardgate/admin.sock"
admin_group = "cardgate-admin"
state_dir = "/var/lib/cardgate"
max_request_bytes = 4096
request_timeout_ms = 5000
max_connections = 64
utc_offset_minutes = 540

[issuer]
public_key = "/etc/cardgate/issuer.pub"

[revocation]
list = "/var/lib/cardgate/revoked.crl"
stale = "warn"

[audit]
dir = "/var/lib/cardgate/audit"
seal_every_records = 256
seal_every_seconds = 300
syslog = true

[session]
on_removal = "end"
reverify_after_seconds = 3600
loginctl = "/usr/bin/loginctl"

[rate_limit]
free_failures = 1
base_delay_ms = 2000
max_delay_ms = 300000

[business_hours]
days = ["mon", "tue", "wed", "thu", "fri", "sat"]
start = "08:30"
end = "17:15"

[[terminal]]
id = "juki-01"
reader = "Virtual PCD 00 00"

[[terminal]]
id = "juki-02"
reader = "Virtual PCD 00 01"

[operators]
"op-0042" = "tanaka"
"op-0043" = "sato"
"#;
    out.put("config", "minimal", minimal.as_bytes())?;
    out.put("config", "documented", documented.as_bytes())?;
    out.put("config", "full", full.as_bytes())?;
    out.put(
        "config",
        "bad-network-socket",
        format!("[daemon]\nlogin_socket = \"127.0.0.1:9000\"\n{minimal}").as_bytes(),
    )?;
    out.put(
        "config",
        "bad-duplicate-terminal",
        format!("{minimal}\n[[terminal]]\nid = \"juki-01\"\nreader = \"x\"\n").as_bytes(),
    )?;
    out.put(
        "config",
        "bad-unknown-key",
        format!("[daemon]\nlisten = \"0.0.0.0:80\"\n{minimal}").as_bytes(),
    )?;
    out.put(
        "config",
        "bad-hours",
        format!("[business_hours]\nstart = \"25:00\"\nend = \"17:15\"\n{minimal}").as_bytes(),
    )?;
    out.put("config", "bad-syntax", b"[[terminal]\n")?;
    Ok(())
}

fn main() -> Result<()> {
    let fresh = std::env::args().any(|a| a == "--fresh-audit");
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no fuzz directory")?
        .to_path_buf();
    let fixture_dir = fuzz_dir.join("harness/fixtures/audit");
    reference_log(&fixture_dir, fresh)?;
    let root = fuzz_dir.join("corpus");
    // Start from empty directories so that a seed removed here leaves the corpus too.
    for t in cardgate_fuzz_harness::TARGETS {
        let _ = fs::remove_dir_all(root.join(t.name));
    }
    let mut out = Out { root, count: 0 };
    let host_commands = card_login(&mut out)?;
    softcard_apdu(&mut out, &host_commands)?;
    certificates(&mut out)?;
    revocation_lists(&mut out)?;
    audit(&mut out, &fixture_dir)?;
    socket_requests(&mut out)?;
    configs(&mut out)?;
    println!("wrote {} seeds under {}", out.count, out.root.display());
    Ok(())
}
