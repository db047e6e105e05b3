//! The OpenPGP card v3.4 profile, host side: cards a town hall can buy (YubiKey 5,
//! Nitrokey 3, Gnuk, ZeitControl), recognised by their application identifier.
//!
//! The login is the operator-card login ([`crate::login`](mod@crate::login)) over these commands:
//!
//! | cardgate needs | OpenPGP card v3.4 |
//! | --- | --- |
//! | the application | SELECT `D2 76 00 01 24 01`; the full AID (`4F`) carries version, manufacturer and serial |
//! | the certificate | the cardholder certificate DO `7F21`, read without a password |
//! | operator PIN | PW1 for "other" operations, VERIFY `P2=82`; a blocked PW1 answers `63C0` even to the right PIN, so the retry counter is read first |
//! | card key proof | INTERNAL AUTHENTICATE with the authentication key over SHA-256 of the contract's domain-separated challenge, `r‖s` |
//! | unblock | RESET RETRY COUNTER `P1=00` with the Reset Code, cardgate's PUK |
//!
//! Two differences the common login cannot see are handled here, once:
//!
//! * **SELECT does not clear the security state** on these cards (a new PC/SC connection
//!   does not either). [`clear_security_state`] sends `VERIFY P1=FF` for PW1 (both uses) and
//!   PW3 at the start of every operation ([`select_application`]) and at its end (the
//!   transaction seam's ending, [`crate::commands::reselect`]).
//! * **The card does not enforce art. 5.5.** It takes `aaaaaa` or `123456`; the host checks
//!   the format before every VERIFY and the policy at every change, so a PIN set with another
//!   tool cannot log in.
//!
//! With a KDF-DO on the card ([`kdf`]) every password goes as a salted hash.

pub mod issue;
pub mod kdf;

use crate::apdu::{Command, Response};
use crate::cert::{Certificate, AUTH_PREFIX, EC_POINT_LEN, TAG_EC_POINT, TAG_PUBLIC_KEY};
use crate::commands::{build, ins, transceive, CardError, Verification, CHALLENGE_LEN};
use crate::status::StatusWord;
use crate::tlv::{self, TlvError};
use cardgate_reader::CardTransport;
use iso7816_tlv::ber::{Tlv, Value};
use kdf::{Kdf, Password};
use zeroize::Zeroizing;

/// The OpenPGP application's registered identifier (RID `D276000124`, PIX `01`); a card's
/// full AID adds version, manufacturer and serial.
pub const AID_PREFIX: [u8; 6] = [0xD2, 0x76, 0x00, 0x01, 0x24, 0x01];
/// Length of the full AID (`4F`).
pub const AID_LEN: usize = 16;
/// PW1 as it unlocks signing (`81`): cleared, never used by cardgate.
pub const REF_PW1_SIGN: u8 = 0x81;
/// PW1 as it unlocks INTERNAL AUTHENTICATE (`82`).
pub const REF_PW1: u8 = 0x82;
/// PW3, the admin PIN (`83`).
pub const REF_PW3: u8 = 0x83;
/// Every password reference, as [`clear_security_state`] clears them.
const ALL_PASSWORDS: [u8; 3] = [REF_PW1_SIGN, REF_PW1, REF_PW3];
/// The algorithm attributes cardgate sets for the authentication key: ECDSA (`13`) on
/// P-256 (OID 1.2.840.10045.3.1.7).
pub const ECDSA_P256_ATTRIBUTES: [u8; 9] = [0x13, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// The OID of P-256 alone, as it appears in the attributes and in an OpenPGP key packet.
pub const P256_OID: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// Extended capabilities, first byte: the card supports the KDF-DO (v3.4 § 4.4.3.7).
const CAPABILITY_KDF: u8 = 0x01;

/// Data-object tags cardgate reads or writes.
pub mod tag {
    /// Application related data.
    pub const APPLICATION_DATA: [u8; 1] = [0x6E];
    /// Full AID.
    pub const AID: [u8; 1] = [0x4F];
    /// Discretionary data objects (inside `6E`).
    pub const DISCRETIONARY: [u8; 1] = [0x73];
    /// Extended capabilities.
    pub const EXTENDED_CAPABILITIES: [u8; 1] = [0xC0];
    /// Algorithm attributes of the authentication key.
    pub const AUTH_ATTRIBUTES: [u8; 1] = [0xC3];
    /// PW status bytes.
    pub const PW_STATUS: [u8; 1] = [0xC4];
    /// Fingerprint of the authentication key.
    pub const AUTH_FINGERPRINT: [u8; 1] = [0xC9];
    /// Generation time of the authentication key.
    pub const AUTH_GENERATION_TIME: [u8; 1] = [0xD0];
    /// The Reset Code.
    pub const RESET_CODE: [u8; 1] = [0xD3];
    /// The KDF-DO.
    pub const KDF: [u8; 1] = [0xF9];
    /// The cardholder certificate.
    pub const CERTIFICATE: [u8; 2] = [0x7F, 0x21];
}

/// What cardgate knows of an OpenPGP card after selecting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPgpApplication {
    aid: [u8; AID_LEN],
    kdf_supported: bool,
    kdf: Kdf,
    /// PW1's, the Reset Code's and PW3's retry counters when the card was selected.
    retries: [u8; 3],
}

impl OpenPgpApplication {
    /// The specification version the card implements (`3.4` is `(3, 4)`).
    pub fn version(&self) -> (u8, u8) {
        (self.aid[6], self.aid[7])
    }

    /// The manufacturer code (0006 Yubico, 000F Nitrokey, FFFE/FFFF test and virtual
    /// cards, …).
    pub fn manufacturer(&self) -> u16 {
        u16::from_be_bytes([self.aid[8], self.aid[9]])
    }

    /// The card's own serial number (not cardgate's serial, which is in the certificate).
    pub fn card_serial(&self) -> u32 {
        u32::from_be_bytes([self.aid[10], self.aid[11], self.aid[12], self.aid[13]])
    }

    /// The full AID.
    pub fn aid(&self) -> &[u8; AID_LEN] {
        &self.aid
    }

    /// Whether the card advertises the KDF-DO.
    pub fn kdf_supported(&self) -> bool {
        self.kdf_supported
    }

    /// The card's KDF setting.
    pub fn kdf(&self) -> &Kdf {
        &self.kdf
    }

    /// Tries left of the Reset Code when the card was selected.
    pub fn reset_code_retries(&self) -> u8 {
        self.retries[1]
    }

    /// Tries left of PW3 when the card was selected.
    pub fn admin_retries(&self) -> u8 {
        self.retries[2]
    }

    /// The same card with `kdf` in force (after issuance wrote it).
    pub(crate) fn with_kdf(&self, kdf: Kdf) -> Self {
        OpenPgpApplication {
            kdf,
            ..self.clone()
        }
    }

    /// What the card expects for `secret` as `password`.
    pub(crate) fn derive(&self, password: Password, secret: &str) -> Zeroizing<Vec<u8>> {
        self.kdf.derive(password, secret)
    }
}

/// Builds one command and sends it on the one send path ([`transceive`]).
pub(crate) fn run<T: CardTransport + ?Sized>(
    transport: &mut T,
    name: &'static str,
    cmd: Command,
    data: Option<&[u8]>,
    le: Option<u16>,
) -> Result<Response, CardError> {
    transceive(transport, &build(name, cmd, data, le)?, name)
}

pub(crate) fn expect_success(name: &'static str, r: &Response) -> Result<(), CardError> {
    if r.status == StatusWord::Success {
        Ok(())
    } else {
        Err(CardError::unexpected(name, r.status))
    }
}

/// SELECT of the OpenPGP application by its registered prefix:
/// `00 A4 04 00 06 D2 76 00 01 24 01`.
pub fn select_command() -> Result<Command, CardError> {
    Command::new(0x00, ins::SELECT, 0x04, 0x00)
        .with_data(&AID_PREFIX)
        .map_err(|source| CardError::Build {
            command: "SELECT",
            source,
        })
}

/// SELECTs the OpenPGP application, clears the card's security state and reads what the
/// login needs to know of it. `None`: the card has no OpenPGP application.
pub fn select_application<T: CardTransport + ?Sized>(
    transport: &mut T,
) -> Result<Option<OpenPgpApplication>, CardError> {
    const NAME: &str = "SELECT (OpenPGP)";
    let r = transceive(transport, &select_command()?, NAME)?;
    match r.status {
        StatusWord::Success => {}
        StatusWord::NotFound => return Ok(None),
        other => return Err(CardError::unexpected(NAME, other)),
    }
    // At the start, a state that cannot be known is let pass: every operation VERIFYs its
    // own password before it uses one, and the ending (which such a card fails) resets it.
    clear_passwords(transport)?;
    let mut app = read_application_data(transport)?;
    if app.kdf_supported {
        app.kdf = read_kdf(transport)?;
    }
    Ok(Some(app))
}

/// Whether the card's security state is known to be clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cleared {
    /// `VERIFY P1=FF` went through, or VERIFY without data shows nothing verified.
    Yes,
    /// The card refuses both: what it has verified cannot be known.
    Unknown,
}

/// `VERIFY P1=FF` for PW1 (sign), PW1 (other) and PW3: the card forgets every password
/// verified before, by us or by any other program. A card that refuses `P1=FF` (YubiKeys
/// before firmware 5.6) is asked with VERIFY without data whether any of the three is
/// verified now: one that is fails the operation, and the seam resets the card.
fn clear_passwords<T: CardTransport + ?Sized>(transport: &mut T) -> Result<Cleared, CardError> {
    const NAME: &str = "VERIFY (clear)";
    let mut refused = None;
    for reference in ALL_PASSWORDS {
        let r = run(
            transport,
            NAME,
            Command::new(0x00, ins::VERIFY, 0xFF, reference),
            None,
            None,
        )?;
        if r.status != StatusWord::Success {
            refused = Some(r.status);
        }
    }
    let Some(status) = refused else {
        return Ok(Cleared::Yes);
    };
    let mut cleared = Cleared::Yes;
    for reference in ALL_PASSWORDS {
        match verified_now(transport, reference)? {
            Some(true) => return Err(CardError::unexpected(NAME, status)),
            Some(false) => {}
            None => cleared = Cleared::Unknown,
        }
    }
    Ok(cleared)
}

/// The security state cleared, and known to be: what the seam's ending needs
/// ([`crate::commands::reselect`]). A card that can neither clear nor tell (YubiKeys of
/// firmware 5.4 refuse `P1=FF` and answer `6A80` to VERIFY without data) fails here, and the
/// seam resets it: a reset clears every card.
pub fn clear_security_state<T: CardTransport + ?Sized>(transport: &mut T) -> Result<(), CardError> {
    match clear_passwords(transport)? {
        Cleared::Yes => Ok(()),
        Cleared::Unknown => Err(CardError::unexpected(
            "VERIFY (status)",
            StatusWord::IncorrectData,
        )),
    }
}

/// VERIFY with no data, for the one question it answers and `C4` does not: is the password
/// verified now? `None`: the card does not implement it.
fn verified_now<T: CardTransport + ?Sized>(
    transport: &mut T,
    reference: u8,
) -> Result<Option<bool>, CardError> {
    const NAME: &str = "VERIFY (status)";
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::VERIFY, 0x00, reference),
        None,
        None,
    )?;
    match r.status {
        StatusWord::Success => Ok(Some(true)),
        StatusWord::RemainingRetries(_) | StatusWord::AuthMethodBlocked => Ok(Some(false)),
        StatusWord::IncorrectData
        | StatusWord::WrongLength
        | StatusWord::IncorrectP1P2
        | StatusWord::InsNotSupported => Ok(None),
        other => Err(CardError::unexpected(NAME, other)),
    }
}

/// GET DATA of a simple DO (`00 CA 00 tag 00`); `None` when the card has none (`6A88`).
fn get_simple<T: CardTransport + ?Sized>(
    transport: &mut T,
    name: &'static str,
    tag: u8,
) -> Result<Option<Zeroizing<Vec<u8>>>, CardError> {
    let r = run(
        transport,
        name,
        Command::new(0x00, ins::GET_DATA, 0x00, tag),
        None,
        Some(256),
    )?;
    match r.status {
        StatusWord::Success => Ok(Some(r.into_data())),
        StatusWord::DataNotFound => Ok(None),
        other => Err(CardError::unexpected(name, other)),
    }
}

fn missing(command: &'static str, tag: &'static str) -> CardError {
    CardError::BadResponseData {
        command,
        source: TlvError::WrongLength {
            tag: tag.into(),
            len: 0,
            expected: "present",
        },
    }
}

/// GET DATA `C4`: PW1's, the Reset Code's and PW3's retry counters.
pub fn retry_counters<T: CardTransport + ?Sized>(transport: &mut T) -> Result<[u8; 3], CardError> {
    const NAME: &str = "GET DATA (C4)";
    let status = get_simple(transport, NAME, tag::PW_STATUS[0])?.ok_or(missing(NAME, "C4"))?;
    pw_retries(NAME, &status)
}

/// Finds the first object with `tag` among `items` or, one level down, inside constructed
/// ones (the discretionary data objects `73` sit inside `6E`).
fn find<'a>(items: &'a [Tlv], tag: &[u8]) -> Option<&'a Tlv> {
    items
        .iter()
        .find(|t| t.tag().to_bytes() == tag)
        .or_else(|| {
            items.iter().find_map(|t| match t.value() {
                Value::Constructed(children) => find(children, tag),
                Value::Primitive(_) => None,
            })
        })
}

/// The full AID, the extended capabilities and the PW status bytes, from the application
/// related data `6E`, where the specification puts them (some cards answer no GET DATA of
/// `C0` alone; GnuPG reads it from `6E` too). Cards differ on whether `6E` comes with its
/// outer tag, and with P-256 attributes it no longer fits one short response (the send path
/// follows `61xx`). A card that answers no `6E` is asked for each object on its own.
fn read_application_data<T: CardTransport + ?Sized>(
    transport: &mut T,
) -> Result<OpenPgpApplication, CardError> {
    const NAME: &str = "GET DATA (6E)";
    let Some(data) = get_simple(transport, NAME, tag::APPLICATION_DATA[0])? else {
        return read_application_objects(transport);
    };
    let bad = |source| CardError::BadResponseData {
        command: NAME,
        source,
    };
    let items = tlv::parse_list(&data).map_err(bad)?;
    let primitive = |tag: &[u8], name: &'static str| -> Result<Vec<u8>, CardError> {
        let t = find(&items, tag).ok_or(missing(NAME, name))?;
        tlv::primitive(t, tag).map(<[u8]>::to_vec).map_err(bad)
    };
    application(
        NAME,
        &primitive(&tag::AID, "4F")?,
        &primitive(&tag::EXTENDED_CAPABILITIES, "C0")?,
        &primitive(&tag::PW_STATUS, "C4")?,
    )
}

/// [`read_application_data`] one object at a time: GET DATA `4F`, `C0`, `C4`.
fn read_application_objects<T: CardTransport + ?Sized>(
    transport: &mut T,
) -> Result<OpenPgpApplication, CardError> {
    const AID_NAME: &str = "GET DATA (4F)";
    let aid = get_simple(transport, AID_NAME, tag::AID[0])?.ok_or(missing(AID_NAME, "4F"))?;
    const CAPS_NAME: &str = "GET DATA (C0)";
    let caps = get_simple(transport, CAPS_NAME, tag::EXTENDED_CAPABILITIES[0])?
        .ok_or(missing(CAPS_NAME, "C0"))?;
    const STATUS_NAME: &str = "GET DATA (C4)";
    let status =
        get_simple(transport, STATUS_NAME, tag::PW_STATUS[0])?.ok_or(missing(STATUS_NAME, "C4"))?;
    application(AID_NAME, &aid, &caps, &status)
}

/// The application from its AID, extended capabilities and PW status bytes.
fn application(
    command: &'static str,
    aid: &[u8],
    caps: &[u8],
    status: &[u8],
) -> Result<OpenPgpApplication, CardError> {
    let aid: [u8; AID_LEN] = aid.try_into().map_err(|_| CardError::BadResponseData {
        command,
        source: TlvError::WrongLength {
            tag: "4F".into(),
            len: aid.len(),
            expected: "16",
        },
    })?;
    if aid[..AID_PREFIX.len()] != AID_PREFIX {
        return Err(CardError::ApplicationNotFound);
    }
    Ok(OpenPgpApplication {
        aid,
        kdf_supported: caps.first().is_some_and(|b| b & CAPABILITY_KDF != 0),
        kdf: Kdf::Off,
        retries: pw_retries(command, status)?,
    })
}

/// PW1's, the Reset Code's and PW3's retry counters: bytes 5 to 7 of `C4`.
fn pw_retries(command: &'static str, status: &[u8]) -> Result<[u8; 3], CardError> {
    match status {
        [_, _, _, _, pw1, rc, pw3, ..] => Ok([*pw1, *rc, *pw3]),
        other => Err(CardError::BadResponseData {
            command,
            source: TlvError::WrongLength {
                tag: "C4".into(),
                len: other.len(),
                expected: "7",
            },
        }),
    }
}

/// GET DATA `F9`. A card that advertises the DO but has none set answers `6A88`: off.
fn read_kdf<T: CardTransport + ?Sized>(transport: &mut T) -> Result<Kdf, CardError> {
    const NAME: &str = "GET DATA (F9)";
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::GET_DATA, 0x00, tag::KDF[0]),
        None,
        Some(256),
    )?;
    match r.status {
        StatusWord::Success => Kdf::parse(r.data()).map_err(CardError::Kdf),
        StatusWord::DataNotFound => Ok(Kdf::Off),
        other => Err(CardError::unexpected(NAME, other)),
    }
}

/// GET DATA `7F21`: the cardgate certificate, or `None` on a card that has none (empty, or
/// `6A88`). Readable without a password.
pub fn get_certificate<T: CardTransport + ?Sized>(
    transport: &mut T,
) -> Result<Option<Certificate>, CardError> {
    const NAME: &str = "GET DATA (7F21)";
    let r = run(
        transport,
        NAME,
        Command::new(
            0x00,
            ins::GET_DATA,
            tag::CERTIFICATE[0],
            tag::CERTIFICATE[1],
        ),
        None,
        Some(256),
    )?;
    match r.status {
        StatusWord::Success if r.data().is_empty() => Ok(None),
        StatusWord::Success => Certificate::parse(r.data())
            .map(Some)
            .map_err(CardError::Certificate),
        StatusWord::DataNotFound => Ok(None),
        other => Err(CardError::unexpected(NAME, other)),
    }
}

/// Which counter of `C4` a password has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// PW1, the operator's PIN.
    Pw1 = 0,
    /// The Reset Code.
    ResetCode = 1,
    /// PW3, the admin PIN.
    Pw3 = 2,
}

/// [`Verification::from_status`] for a command that carried a password, where two refusals carry no
/// counter: `6300` (opcard, a wrong old PIN in CHANGE REFERENCE DATA; the try is spent) and
/// `6982` (YubiKeys, a wrong PIN). The tries left are then read from `C4`.
pub(crate) fn counted_outcome<T: CardTransport + ?Sized>(
    transport: &mut T,
    name: &'static str,
    status: StatusWord,
    counter: Counter,
) -> Result<Verification, CardError> {
    match status {
        StatusWord::Other([0x63, 0x00]) | StatusWord::SecurityStatusNotSatisfied => {
            let remaining = retry_counters(transport)?[counter as usize];
            Ok(Verification::Wrong { remaining })
        }
        other => Verification::from_status(name, other),
    }
}

/// The tries left of a password, from the PW status bytes (`C4`): [`Verification::Blocked`]
/// at 0, else [`Verification::Wrong`] with the count, as "not verified now" (every operation
/// starts by clearing the security state). Not VERIFY without data, which the specification
/// allows but some cards refuse (YubiKey 5, firmware 5.4: `6A80`), and which answers `63C0`
/// for a blocked password as for a wrong one.
pub fn password_status<T: CardTransport + ?Sized>(
    transport: &mut T,
    counter: Counter,
) -> Result<Verification, CardError> {
    Ok(match retry_counters(transport)?[counter as usize] {
        0 => Verification::Blocked,
        remaining => Verification::Wrong { remaining },
    })
}

/// VERIFY of `secret` as `password` (`reference`), after its retry counter (read from `C4`
/// at select): a blocked password gets no secret at all (the card would answer `63C0` even
/// to the right one).
pub(crate) fn verify<T: CardTransport + ?Sized>(
    transport: &mut T,
    app: &OpenPgpApplication,
    reference: u8,
    password: Password,
    secret: &str,
) -> Result<Verification, CardError> {
    const NAME: &str = "VERIFY";
    let counter = if reference == REF_PW3 {
        Counter::Pw3
    } else {
        Counter::Pw1
    };
    // The tries left as the card said them when it was selected, in this same transaction.
    if app.retries[counter as usize] == 0 {
        return Ok(Verification::Blocked);
    }
    let value = app.derive(password, secret);
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::VERIFY, 0x00, reference),
        Some(&value),
        None,
    )?;
    counted_outcome(transport, NAME, r.status, counter)
}

/// VERIFY PW1 (`P2=82`) with the operator's PIN.
pub fn verify_pin<T: CardTransport + ?Sized>(
    transport: &mut T,
    app: &OpenPgpApplication,
    pin: &str,
) -> Result<Verification, CardError> {
    verify(transport, app, REF_PW1, Password::User, pin)
}

/// VERIFY PW3 (`P2=83`) with the admin PIN.
pub fn verify_admin<T: CardTransport + ?Sized>(
    transport: &mut T,
    app: &OpenPgpApplication,
    admin_pin: &str,
) -> Result<Verification, CardError> {
    verify(transport, app, REF_PW3, Password::Admin, admin_pin)
}

/// CHANGE REFERENCE DATA of PW1: `00 24 00 81 Lc old‖new`.
pub fn change_pin<T: CardTransport + ?Sized>(
    transport: &mut T,
    app: &OpenPgpApplication,
    old: &str,
    new: &str,
) -> Result<Verification, CardError> {
    const NAME: &str = "CHANGE REFERENCE DATA";
    if app.retries[Counter::Pw1 as usize] == 0 {
        return Ok(Verification::Blocked);
    }
    let mut data = app.derive(Password::User, old);
    data.extend_from_slice(&app.derive(Password::User, new));
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::CHANGE_REFERENCE_DATA, 0x00, REF_PW1_SIGN),
        Some(&data),
        None,
    )?;
    counted_outcome(transport, NAME, r.status, Counter::Pw1)
}

/// RESET RETRY COUNTER with the Reset Code: `00 2C 00 81 Lc resetcode‖new`. The outcome
/// concerns the Reset Code. A card with no Reset Code set has its counter at 0: blocked, for
/// the access manager's purpose (the PUK cannot unblock this card).
pub fn unblock_pin<T: CardTransport + ?Sized>(
    transport: &mut T,
    app: &OpenPgpApplication,
    reset_code: &str,
    new: &str,
) -> Result<Verification, CardError> {
    const NAME: &str = "RESET RETRY COUNTER";
    if app.reset_code_retries() == 0 {
        return Ok(Verification::Blocked);
    }
    let mut data = app.derive(Password::ResetCode, reset_code);
    data.extend_from_slice(&app.derive(Password::User, new));
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::RESET_RETRY_COUNTER, 0x00, REF_PW1_SIGN),
        Some(&data),
        None,
    )?;
    counted_outcome(transport, NAME, r.status, Counter::ResetCode)
}

/// The digest the card signs for a challenge: SHA-256 of the contract's domain-separated
/// message, so that the certificate's check ([`Certificate::verify_card_signature`]) is the
/// same for both profiles.
pub fn challenge_digest(challenge: &[u8; CHALLENGE_LEN]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(AUTH_PREFIX);
    ctx.update(challenge);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// INTERNAL AUTHENTICATE with the authentication key: `00 88 00 00 20 <digest> 00`; the card
/// answers `r‖s`.
pub fn internal_authenticate<T: CardTransport + ?Sized>(
    transport: &mut T,
    challenge: &[u8; CHALLENGE_LEN],
) -> Result<[u8; 64], CardError> {
    const NAME: &str = "INTERNAL AUTHENTICATE";
    let digest = challenge_digest(challenge);
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::INTERNAL_AUTHENTICATE, 0, 0),
        Some(&digest),
        Some(256),
    )?;
    expect_success(NAME, &r)?;
    r.data().try_into().map_err(|_| CardError::BadResponseData {
        command: NAME,
        source: TlvError::WrongLength {
            tag: "signature".into(),
            len: r.data().len(),
            expected: "64",
        },
    })
}

/// Reads the public point of a `7F49 { 86 point }` template.
pub(crate) fn public_point(
    name: &'static str,
    data: &[u8],
) -> Result<[u8; EC_POINT_LEN], CardError> {
    let bad = |source| CardError::BadResponseData {
        command: name,
        source,
    };
    let t = tlv::parse_exact(data, TAG_PUBLIC_KEY).map_err(bad)?;
    let Value::Constructed(children) = t.value() else {
        return Err(bad(TlvError::WrongForm("7F49".into())));
    };
    let point = children
        .iter()
        .find(|c| c.tag().to_bytes() == TAG_EC_POINT)
        .ok_or_else(|| {
            bad(TlvError::WrongChildCount {
                tag: "7F49".into(),
                count: children.len(),
                expected: 1,
            })
        })?;
    tlv::fixed::<EC_POINT_LEN>(point, TAG_EC_POINT).map_err(bad)
}

/// GENERATE ASYMMETRIC KEY PAIR, P1=`81`: reads the authentication key's public half (no
/// password needed), for `cardgatectl card inspect` and the checks after issuance.
pub fn read_auth_public_key<T: CardTransport + ?Sized>(
    transport: &mut T,
) -> Result<Option<[u8; EC_POINT_LEN]>, CardError> {
    const NAME: &str = "GENERATE ASYMMETRIC KEY PAIR (read)";
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::GENERATE_KEY_PAIR, 0x81, 0x00),
        Some(&[0xA4, 0x00]),
        Some(256),
    )?;
    match r.status {
        StatusWord::Success => public_point(NAME, r.data()).map(Some),
        StatusWord::DataNotFound | StatusWord::ConditionsNotSatisfied => Ok(None),
        other => Err(CardError::unexpected(NAME, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_select_names_the_registered_prefix_only() {
        assert_eq!(
            &select_command().unwrap().to_bytes()[..],
            &[0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01]
        );
    }

    #[test]
    fn the_digest_is_sha256_of_the_contracts_message() {
        let challenge = [7u8; CHALLENGE_LEN];
        let mut message = AUTH_PREFIX.to_vec();
        message.extend_from_slice(&challenge);
        assert_eq!(
            challenge_digest(&challenge).as_slice(),
            ring::digest::digest(&ring::digest::SHA256, &message).as_ref()
        );
    }
}
