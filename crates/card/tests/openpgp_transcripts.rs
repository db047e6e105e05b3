//! The OpenPGP card profile's host side against declarative transcripts
//! (`tests/openpgp/*.txt`): a scripted card answers what opcard (Nitrokey's firmware) or a
//! YubiKey answers, and every byte cardgate sends is checked against the transcript, through
//! the transaction seam's own ending ([`run_operation`] with [`reselect`]).
//!
//! A transcript is:
//!
//! ```text
//! # comments
//! op: login PIN | change OLD NEW | unblock RESETCODE NEW | select | nothing
//! expect: what the operation returned (see `render_*`)
//! end: leave | reset          (how the seam ended the transaction)
//! > command bytes             (hex pairs, "ASCII", *N for N bytes of any value)
//! < response bytes            (hex pairs, "ASCII", $CERT), status word last
//! ```
//!
//! The host must send exactly the `>` lines, in order, and nothing after the last: one byte
//! different, one APDU more or fewer, and the run fails (`every_byte_of_every_transcript_
//! matters` checks that, one byte of every command at a time).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::cert::{CardSerial, CertificateBody, Role, EC_POINT_LEN};
use cardgate_card::login::{login, LoginError, LoginPolicy};
use cardgate_card::revocation::RevocationListBuilder;
use cardgate_card::{
    reselect, IssuerKey, OperatorCard, Pin, Puk, RevocationList, SecretString, Verification,
};
use cardgate_reader::{
    run_operation, AfterTransaction, CardTransaction, CardTransport, TransportError,
};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use time::macros::date;
use zeroize::Zeroizing;

const READER: &str = "Scripted OpenPGP Reader 00 00";

/// One byte of a command as the transcript expects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Byte(u8),
    Any,
}

#[derive(Debug, Clone)]
struct Exchange {
    line: usize,
    command: Vec<Expected>,
    /// The response starts with `@SIGN`: the card's signature of the command's `*32`.
    sign: bool,
    response: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Transcript {
    name: String,
    op: Vec<String>,
    expect: String,
    end: AfterTransaction,
    exchanges: Vec<Exchange>,
}

/// Hex pairs, `"ASCII"`, `*N` (N bytes of any value) and `$NAME` (bytes from `vars`).
fn parse_bytes(text: &str, vars: &[(&str, &[u8])], wildcards: bool) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').expect("an unterminated string");
            out.extend(quoted[..end].bytes().map(Expected::Byte));
            rest = quoted[end + 1..].trim_start();
            continue;
        }
        let (token, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        rest = tail.trim_start();
        if let Some(n) = token.strip_prefix('*') {
            assert!(wildcards, "a wildcard in a response: {text}");
            out.extend(std::iter::repeat_n(Expected::Any, n.parse().unwrap()));
        } else if let Some(name) = token.strip_prefix('$') {
            let (_, value) = vars
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("no variable ${name}"));
            out.extend(value.iter().copied().map(Expected::Byte));
        } else {
            // Hex, two digits a byte; "63C3" is two bytes.
            assert!(token.len() % 2 == 0, "odd hex {token:?} in {text}");
            for pair in token.as_bytes().chunks(2) {
                let pair = std::str::from_utf8(pair).unwrap();
                out.push(Expected::Byte(u8::from_str_radix(pair, 16).unwrap()));
            }
        }
    }
    out
}

fn load(path: &Path, vars: &[(&str, &[u8])]) -> Transcript {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let (mut op, mut expect, mut end) = (None, None, None);
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut pending: Option<(usize, Vec<Expected>)> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let number = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(v) = line.strip_prefix("op:") {
            op = Some(v.split_whitespace().map(str::to_owned).collect());
        } else if let Some(v) = line.strip_prefix("expect:") {
            expect = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("end:") {
            end = Some(match v.trim() {
                "leave" => AfterTransaction::LeaveCard,
                "reset" => AfterTransaction::ResetCard,
                other => panic!("{name}:{number}: end {other:?}"),
            });
        } else if let Some(v) = line.strip_prefix('>') {
            assert!(pending.is_none(), "{name}:{number}: two commands in a row");
            pending = Some((number, parse_bytes(v, vars, true)));
        } else if let Some(v) = line.strip_prefix('<') {
            let (line, command) = pending
                .take()
                .unwrap_or_else(|| panic!("{name}:{number}: a response without a command"));
            let (sign, v) = match v.trim().strip_prefix("@SIGN") {
                Some(rest) => (true, rest),
                None => (false, v),
            };
            let response = parse_bytes(v, vars, false)
                .into_iter()
                .map(|b| match b {
                    Expected::Byte(b) => b,
                    Expected::Any => unreachable!(),
                })
                .collect();
            exchanges.push(Exchange {
                line,
                command,
                sign,
                response,
            });
        } else {
            panic!("{name}:{number}: cannot read {line:?}");
        }
    }
    assert!(pending.is_none(), "{name}: a command without a response");
    Transcript {
        op: op.unwrap_or_else(|| panic!("{name}: no op:")),
        expect: expect.unwrap_or_else(|| panic!("{name}: no expect:")),
        end: end.unwrap_or_else(|| panic!("{name}: no end:")),
        name,
        exchanges,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn render_expected(command: &[Expected]) -> String {
    command
        .iter()
        .map(|b| match b {
            Expected::Byte(b) => format!("{b:02X}"),
            Expected::Any => "**".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the scripted card saw: how far the transcript got, and how the seam ended.
#[derive(Debug, Default)]
struct Seen {
    next: usize,
    ended: Option<AfterTransaction>,
}

/// The scripted card: answers each command with the transcript's response once the command
/// is exactly the transcript's; panics, naming the transcript line, on any other.
struct Scripted {
    transcript: Transcript,
    seen: Rc<RefCell<Seen>>,
}

impl CardTransport for Scripted {
    fn transmit(&mut self, command: &[u8]) -> Result<Zeroizing<Vec<u8>>, TransportError> {
        let mut seen = self.seen.borrow_mut();
        let name = &self.transcript.name;
        let Some(step) = self.transcript.exchanges.get(seen.next) else {
            panic!(
                "{name}: the host sent {} after the transcript's last exchange",
                hex(command)
            );
        };
        let matches = step.command.len() == command.len()
            && step.command.iter().zip(command).all(|(e, b)| match e {
                Expected::Byte(x) => x == b,
                Expected::Any => true,
            });
        assert!(
            matches,
            "{name}:{}: the host sent\n  {}\nthe transcript expects\n  {}",
            step.line,
            hex(command),
            render_expected(&step.command)
        );
        seen.next += 1;
        let mut response = Vec::new();
        if step.sign {
            let digest: Vec<u8> = step
                .command
                .iter()
                .zip(command)
                .filter(|(e, _)| **e == Expected::Any)
                .map(|(_, b)| *b)
                .collect();
            response.extend_from_slice(&sign_with_key_one(&digest.try_into().unwrap()));
        }
        response.extend_from_slice(&step.response);
        Ok(Zeroizing::new(response))
    }

    fn reader_name(&self) -> &str {
        READER
    }
}

impl CardTransaction for Scripted {
    fn end(self, after: AfterTransaction) -> Result<(), TransportError> {
        self.seen.borrow_mut().ended = Some(after);
        Ok(())
    }
}

/// P-256's base point G and group order n.
const P256_GX: [u8; 32] = hex32("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296");
const P256_GY: [u8; 32] = hex32("4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5");
const P256_N: [u8; 32] = hex32("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'A' + 10,
    }
}

const fn hex32(text: &str) -> [u8; 32] {
    let t = text.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = hex_digit(t[2 * i]) << 4 | hex_digit(t[2 * i + 1]);
        i += 1;
    }
    out
}

/// `a + b` as 256-bit big-endian numbers, with the carry out.
fn add256(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], bool) {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (out, carry != 0)
}

/// `a - b` (mod 2^256).
fn sub256(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let diff = i16::from(a[i]) - i16::from(b[i]) - borrow;
        out[i] = diff.rem_euclid(256) as u8;
        borrow = i16::from(diff < 0);
    }
    out
}

/// `x mod n` for `x < 2^256 + n` given as (x mod 2^256, carry): at most two subtractions.
fn reduce(mut x: [u8; 32], mut carry: bool) -> [u8; 32] {
    while carry || x >= P256_N {
        let wrapped = x < P256_N;
        x = sub256(&x, &P256_N);
        carry = carry && !wrapped;
    }
    x
}

/// An ECDSA P-256 signature `r || s` of a 32-byte digest by the private key 1 with the
/// nonce 1, which needs no curve arithmetic: R = G, so r = Gx, and s = e + r (mod n). The
/// certificate's key is G (the public key of 1). A test card's key only: what the host
/// checks is that the signature verifies against the certificate's key (ring's verifier,
/// over SHA-256 of the contract's message), which it does iff the card signed the digest the
/// host sent.
fn sign_with_key_one(digest: &[u8; 32]) -> [u8; 64] {
    let e = reduce(*digest, false);
    let (sum, carry) = add256(&e, &P256_GX);
    let s = reduce(sum, carry);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&P256_GX);
    out[32..].copy_from_slice(&s);
    out
}

/// The world a transcript's card lives in: the issuer, the card's certificate (`$CERT`),
/// the login policy's list.
struct World {
    issuer: IssuerKey,
    list: RevocationList,
    cert: Vec<u8>,
}

impl World {
    fn new() -> World {
        let issuer = IssuerKey::generate().unwrap();
        let mut card_public_key = [0u8; EC_POINT_LEN];
        card_public_key[0] = 0x04;
        card_public_key[1..33].copy_from_slice(&P256_GX);
        card_public_key[33..].copy_from_slice(&P256_GY);
        let cert = CertificateBody {
            serial: CardSerial([0x4F, 0x50, 0x00, 0x0F, 0x00, 0x00, 0x12, 0x34]),
            operator_id: "op-0042".into(),
            role: Role::Operator,
            valid_from: date!(2026 - 04 - 01),
            valid_until: date!(2027 - 03 - 31),
            issuer_key_id: issuer.public_key().key_id(),
            card_public_key,
        }
        .sign(&issuer)
        .unwrap()
        .encode();
        let list = RevocationList::verify(
            &RevocationListBuilder::new(1, 1_790_000_000, 1_800_000_000)
                .sign(&issuer)
                .unwrap(),
            &issuer.public_key(),
        )
        .unwrap();
        World { issuer, list, cert }
    }

    fn transcript(&self, path: &Path) -> Transcript {
        load(path, &[("CERT", &self.cert)])
    }
}

fn render_login(result: Result<cardgate_card::AuthenticatedOperator, LoginError>) -> String {
    match result {
        Ok(_) => "granted".into(),
        Err(LoginError::WrongPin { remaining }) => format!("wrong_pin remaining={remaining}"),
        Err(LoginError::PinBlocked) => "pin_blocked".into(),
        Err(LoginError::CardAuthenticationFailed) => "card_authentication_failed".into(),
        Err(LoginError::NotPersonalised) => "not_personalised".into(),
        Err(LoginError::Card(e)) => format!("card_error {e}"),
        Err(other) => format!("{other:?}"),
    }
}

fn render_verification(v: Verification) -> String {
    match v {
        Verification::Verified => "verified".into(),
        Verification::Wrong { remaining } => format!("wrong remaining={remaining}"),
        Verification::Blocked => "blocked".into(),
    }
}

/// Runs the transcript's operation in one transaction as the seam runs it; what it
/// returned, and how far the card got.
fn run(world: &World, transcript: Transcript) -> (String, Seen) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let card = Scripted {
        transcript: transcript.clone(),
        seen: Rc::clone(&seen),
    };
    let issuer = world.issuer.public_key();
    let policy = LoginPolicy {
        issuer: &issuer,
        revocation: &world.list,
        today: date!(2026 - 11 - 25),
    };
    let mut outcome = None;
    let op: Vec<&str> = transcript.op.iter().map(String::as_str).collect();
    run_operation(
        READER,
        card,
        reselect(),
        &mut |t: &mut dyn CardTransport| {
            outcome = Some(match op.as_slice() {
                ["login", pin] => render_login(login(t, &policy, &SecretString::from(*pin))),
                ["change", old, new] => {
                    let mut card = OperatorCard::new(t);
                    match card.select() {
                        Ok(_) => card
                            .change_pin(&Pin::parse(old).unwrap(), &Pin::parse(new).unwrap())
                            .map_or_else(|e| format!("card_error {e}"), render_verification),
                        Err(e) => format!("card_error {e}"),
                    }
                }
                ["unblock", reset_code, new] => {
                    let mut card = OperatorCard::new(t);
                    match card.select() {
                        Ok(_) => card
                            .unblock_pin(
                                &Puk::parse(reset_code).unwrap(),
                                &Pin::parse(new).unwrap(),
                            )
                            .map_or_else(|e| format!("card_error {e}"), render_verification),
                        Err(e) => format!("card_error {e}"),
                    }
                }
                ["select"] => match OperatorCard::new(t).select() {
                    Ok(Some(_)) => "openpgp certificate".into(),
                    Ok(None) => "openpgp blank".into(),
                    Err(e) => format!("card_error {e}"),
                },
                ["nothing"] => "done".into(),
                other => panic!("{}: unknown op {other:?}", transcript.name),
            });
        },
    )
    .unwrap();
    let seen = Rc::try_unwrap(seen).unwrap().into_inner();
    (outcome.unwrap(), seen)
}

fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openpgp")
}

fn transcripts(world: &World) -> Vec<Transcript> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(transcript_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 12, "only {} transcripts", paths.len());
    paths.iter().map(|p| world.transcript(p)).collect()
}

#[test]
fn every_openpgp_transcript_is_what_the_host_sends_and_does() {
    let world = World::new();
    for transcript in transcripts(&world) {
        let (name, total, expect, end) = (
            transcript.name.clone(),
            transcript.exchanges.len(),
            transcript.expect.clone(),
            transcript.end,
        );
        let (outcome, seen) = run(&world, transcript);
        assert_eq!(outcome, expect, "{name}");
        assert_eq!(
            seen.next, total,
            "{name}: the host stopped after {} of {total} exchanges",
            seen.next
        );
        assert_eq!(seen.ended, Some(end), "{name}");
    }
}

/// One byte of one command changed, in every command of every transcript in turn: the run
/// must stop at that very exchange. So no transcript passes whatever the host sends.
#[test]
fn every_byte_of_every_transcript_matters() {
    let world = World::new();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut checked = 0;
    for transcript in transcripts(&world) {
        for i in 0..transcript.exchanges.len() {
            let mut changed = transcript.clone();
            let command = &mut changed.exchanges[i].command;
            // The last fixed byte (Le, or the last data byte): a wildcard has none to change.
            let Some(byte) = command.iter_mut().rev().find_map(|b| match b {
                Expected::Byte(b) => Some(b),
                Expected::Any => None,
            }) else {
                continue;
            };
            *byte ^= 0x01;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&world, changed.clone())
            }));
            let message = match result {
                Ok((outcome, seen)) => panic!(
                    "{}: exchange {i} changed, and the run still ended with {outcome} after {} exchanges",
                    transcript.name, seen.next
                ),
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default(),
            };
            let line = format!("{}:{}:", transcript.name, transcript.exchanges[i].line);
            assert!(
                message.starts_with(&line),
                "exchange {i} changed, the run failed elsewhere: {message}"
            );
            checked += 1;
        }
    }
    std::panic::set_hook(quiet);
    assert!(checked > 100, "only {checked} exchanges checked");
}
