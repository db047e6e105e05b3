//! Issuing an OpenPGP card (art. 5.1), from its factory state or one reset with the
//! standard's TERMINATE DF / ACTIVATE FILE ([`factory_reset`]).
//!
//! Written by hand over cardgate's own send path rather than with the `openpgp-card` crate:
//! the few commands issuance needs are a dozen APDUs, and the crate would bring its own
//! transport and error layers, a second copy of what [`crate::commands`] already does, and
//! none of the cardgate certificate logic.
//!
//! The flow, in one card session after [`super::select_application`] (which cleared the
//! security state):
//!
//! 1. the card must carry no cardgate certificate;
//! 2. VERIFY PW3 with the admin PIN the card has now (factory: `12345678`);
//! 3. where the card supports it, the KDF-DO, in GnuPG's `kdf-setup` order so that cards
//!    which reset their passwords when the DO is written and cards which do not end alike:
//!    PW3 and PW1 become the salted hashes of the factory PINs (CHANGE REFERENCE DATA, VERIFY,
//!    RESET RETRY COUNTER `P1=02`), the Reset Code is deleted, then PUT DATA `F9` with fresh
//!    salts, and VERIFY PW3 again. From here on every password crosses the reader hashed;
//! 4. CHANGE REFERENCE DATA of PW3 to the access manager's new admin PIN, then VERIFY PW3;
//! 5. PUT DATA `D3`: the Reset Code, which is cardgate's PUK;
//! 6. RESET RETRY COUNTER `P1=02` (under PW3): the operator's initial PIN;
//! 7. PUT DATA `C3`: ECDSA P-256 for the authentication key, then GENERATE ASYMMETRIC KEY
//!    PAIR on the card (the private half never leaves it), and its fingerprint (`C9`) and
//!    generation time (`D0`) so that GnuPG shows the key;
//! 8. PUT DATA `7F21`: the certificate the issuer signs over the new key. Last, as on an
//!    operator-card-v1 card: a card pulled before this has no certificate and no login
//!    accepts it.
//!
//! A card pulled in step 3 after PW3 became the hash and before the KDF-DO was written holds
//! an admin PIN whose salt died with the process: no admin PIN typed opens it again, and the
//! access manager resets it ([`factory_reset`]; with GnuPG, `gpg --card-edit`, `admin`,
//! `factory-reset`). Every other pull leaves a card that the next issuance takes, with the
//! admin PIN then in force (factory, or the new one after step 4).

use super::kdf::{Kdf, KdfError, Password, FACTORY_PIN};
use super::{
    counted_outcome, expect_success, get_certificate, public_point, run, tag, verify, Counter,
    OpenPgpApplication, ECDSA_P256_ATTRIBUTES, P256_OID, REF_PW1_SIGN, REF_PW3,
};
use crate::apdu::Command;
use crate::cert::{Certificate, EC_POINT_LEN};
use crate::commands::{ins, CardError, Verification};
use crate::issue::{IssueError, IssueRequest};
use crate::issuer::IssuerKey;
use crate::secret::{AdminPin, Pin, Puk};
use crate::status::StatusWord;
use cardgate_reader::CardTransport;
use ring::rand::{SecureRandom, SystemRandom};

/// The secrets an OpenPGP card's issuance sets, all typed by the access manager.
#[derive(Debug)]
pub struct IssueSecrets<'a> {
    /// PW3 as the card has it now (factory `12345678`).
    pub admin_pin: &'a AdminPin,
    /// PW3 from now on, kept by the access manager.
    pub new_admin_pin: &'a AdminPin,
    /// The Reset Code: cardgate's PUK for this card.
    pub reset_code: &'a Puk,
    /// The operator's first PIN (changed at the first login).
    pub initial_pin: &'a Pin,
}

fn admin_outcome(v: Verification) -> Result<(), IssueError> {
    match v {
        Verification::Verified => Ok(()),
        Verification::Wrong { remaining } => Err(IssueError::WrongAdminPin { remaining }),
        Verification::Blocked => Err(IssueError::AdminPinBlocked),
    }
}

/// CHANGE REFERENCE DATA of PW3 from `old` to `new` (each as the card expects it).
fn change_admin<T: CardTransport + ?Sized>(
    transport: &mut T,
    old: &[u8],
    new: &[u8],
) -> Result<(), IssueError> {
    const NAME: &str = "CHANGE REFERENCE DATA (PW3)";
    let mut data = zeroize::Zeroizing::new(old.to_vec());
    data.extend_from_slice(new);
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::CHANGE_REFERENCE_DATA, 0x00, REF_PW3),
        Some(&data),
        None,
    )?;
    admin_outcome(counted_outcome(transport, NAME, r.status, Counter::Pw3)?)
}

/// RESET RETRY COUNTER `P1=02` (PW3 verified): PW1 becomes `value`, with all its tries.
fn set_pin_under_admin<T: CardTransport + ?Sized>(
    transport: &mut T,
    value: &[u8],
) -> Result<(), CardError> {
    const NAME: &str = "RESET RETRY COUNTER (PW3)";
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::RESET_RETRY_COUNTER, 0x02, REF_PW1_SIGN),
        Some(value),
        None,
    )?;
    expect_success(NAME, &r)
}

/// VERIFY PW3 with a value as the card expects it.
fn verify_admin_value<T: CardTransport + ?Sized>(
    transport: &mut T,
    value: &[u8],
) -> Result<(), IssueError> {
    const NAME: &str = "VERIFY (PW3)";
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::VERIFY, 0x00, REF_PW3),
        Some(value),
        None,
    )?;
    admin_outcome(counted_outcome(transport, NAME, r.status, Counter::Pw3)?)
}

fn put_data<T: CardTransport + ?Sized>(
    transport: &mut T,
    name: &'static str,
    (p1, p2): (u8, u8),
    value: &[u8],
) -> Result<(), CardError> {
    let r = run(
        transport,
        name,
        Command::new(0x00, ins::PUT_DATA, p1, p2),
        Some(value),
        None,
    )?;
    expect_success(name, &r)
}

/// Personalises the OpenPGP card `app` describes (see the module) and returns the certificate
/// written. `now` (Unix seconds) is the key's generation time as GnuPG will show it.
pub fn issue_card<T: CardTransport + ?Sized>(
    transport: &mut T,
    app: &OpenPgpApplication,
    issuer: &IssuerKey,
    secrets: &IssueSecrets<'_>,
    request: &IssueRequest,
    now: u32,
) -> Result<Certificate, IssueError> {
    if let Some(existing) = get_certificate(transport)? {
        return Err(IssueError::AlreadyPersonalised(existing.body.serial));
    }
    admin_outcome(verify(
        transport,
        app,
        REF_PW3,
        Password::Admin,
        secrets.admin_pin.expose(),
    )?)?;
    let mut current = app.derive(Password::Admin, secrets.admin_pin.expose());
    let mut app = app.clone();
    if app.kdf_supported() {
        // GnuPG's kdf-setup order, right for cards that reset their passwords when the DO is
        // written (YubiKey, Gnuk: to the initial hashes in it) and for those that keep them
        // (opcard): first the passwords become the DO's initial hashes, then the DO.
        let kdf = Kdf::generate().map_err(IssueError::Kdf)?;
        let initial_admin = kdf.derive(Password::Admin, AdminPin::FACTORY);
        change_admin(transport, &current, &initial_admin)?;
        verify_admin_value(transport, &initial_admin)?;
        set_pin_under_admin(transport, &kdf.derive(Password::User, FACTORY_PIN))?;
        put_data(transport, "PUT DATA (D3)", (0x00, tag::RESET_CODE[0]), &[])?;
        put_data(
            transport,
            "PUT DATA (F9)",
            (0x00, tag::KDF[0]),
            &kdf.encode(),
        )?;
        verify_admin_value(transport, &initial_admin)?;
        current = initial_admin;
        app = app.with_kdf(kdf);
    }
    let new_admin = app.derive(Password::Admin, secrets.new_admin_pin.expose());
    change_admin(transport, &current, &new_admin)?;
    drop(current);
    verify_admin_value(transport, &new_admin)?;
    drop(new_admin);
    put_data(
        transport,
        "PUT DATA (D3)",
        (0x00, tag::RESET_CODE[0]),
        &app.derive(Password::ResetCode, secrets.reset_code.expose()),
    )?;
    set_pin_under_admin(
        transport,
        &app.derive(Password::User, secrets.initial_pin.expose()),
    )?;
    put_data(
        transport,
        "PUT DATA (C3)",
        (0x00, tag::AUTH_ATTRIBUTES[0]),
        &ECDSA_P256_ATTRIBUTES,
    )?;
    let card_public_key = generate_auth_key(transport)?;
    put_data(
        transport,
        "PUT DATA (C9)",
        (0x00, tag::AUTH_FINGERPRINT[0]),
        &v4_fingerprint(&card_public_key, now),
    )?;
    put_data(
        transport,
        "PUT DATA (D0)",
        (0x00, tag::AUTH_GENERATION_TIME[0]),
        &now.to_be_bytes(),
    )?;
    let cert = request.certificate(issuer, card_public_key)?;
    put_data(
        transport,
        "PUT DATA (7F21)",
        (tag::CERTIFICATE[0], tag::CERTIFICATE[1]),
        &cert.encode(),
    )?;
    Ok(cert)
}

/// GENERATE ASYMMETRIC KEY PAIR for the authentication key (CRT `A4`): `00 47 80 00 02 A4
/// 00 00`; returns the new public point.
fn generate_auth_key<T: CardTransport + ?Sized>(
    transport: &mut T,
) -> Result<[u8; EC_POINT_LEN], CardError> {
    const NAME: &str = "GENERATE ASYMMETRIC KEY PAIR";
    let r = run(
        transport,
        NAME,
        Command::new(0x00, ins::GENERATE_KEY_PAIR, 0x80, 0x00),
        Some(&[0xA4, 0x00]),
        Some(256),
    )?;
    expect_success(NAME, &r)?;
    public_point(NAME, r.data())
}

/// The OpenPGP v4 fingerprint (RFC 4880 § 12.2) of the authentication key as an ECDSA
/// (algorithm 19) public-key packet created at `created`: SHA-1, because that is what v4
/// fingerprints are, and what GnuPG compares with the card's `C9`. It identifies, it does not
/// protect: cardgate trusts the key through its own certificate.
pub fn v4_fingerprint(point: &[u8; EC_POINT_LEN], created: u32) -> [u8; 20] {
    let mut body = Vec::with_capacity(6 + 1 + P256_OID.len() + 2 + EC_POINT_LEN);
    body.push(4);
    body.extend_from_slice(&created.to_be_bytes());
    body.push(19);
    body.push(P256_OID.len() as u8);
    body.extend_from_slice(&P256_OID);
    // The point as an MPI: its bit count (an uncompressed point starts with 0x04: 515 bits).
    let bits = (EC_POINT_LEN * 8 - point[0].leading_zeros() as usize) as u16;
    body.extend_from_slice(&bits.to_be_bytes());
    body.extend_from_slice(point);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&[0x99]);
    ctx.update(&(body.len() as u16).to_be_bytes());
    ctx.update(&body);
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Returns an OpenPGP card to its factory state without knowing its admin PIN, as the
/// standard allows (v3.4 § 7.2.16): PW1 and PW3 are blocked with wrong tries, then TERMINATE
/// DF and ACTIVATE FILE; a card left terminated by an earlier reset is activated. Every
/// key, password and certificate on it is gone; PW1 is `123456` and PW3 `12345678` again.
pub fn factory_reset<T: CardTransport + ?Sized>(transport: &mut T) -> Result<(), IssueError> {
    // A card pulled between TERMINATE DF and ACTIVATE FILE answers SELECT with `6285`
    // (terminated) and nothing else: the reset is finished where it stopped.
    const SELECT: &str = "SELECT (OpenPGP)";
    let r = super::transceive(transport, &super::select_command()?, SELECT)?;
    match r.status {
        StatusWord::Success => {
            if super::select_application(transport)?.is_none() {
                return Err(CardError::ApplicationNotFound.into());
            }
            // Both passwords, as ykman does: some cards allow TERMINATE only then.
            block(transport, super::REF_PW1, Counter::Pw1)?;
            block(transport, REF_PW3, Counter::Pw3)?;
            terminate_and_activate(transport, true)?;
        }
        StatusWord::Other([0x62, 0x85]) => terminate_and_activate(transport, false)?,
        StatusWord::NotFound => return Err(CardError::ApplicationNotFound.into()),
        other => return Err(CardError::unexpected(SELECT, other).into()),
    }
    match super::select_application(transport)? {
        Some(_) => Ok(()),
        None => Err(CardError::ApplicationNotFound.into()),
    }
}

/// Wrong VERIFYs of `reference` until its counter reads 0.
fn block<T: CardTransport + ?Sized>(
    transport: &mut T,
    reference: u8,
    counter: Counter,
) -> Result<(), IssueError> {
    const NAME: &str = "VERIFY (to block)";
    let rng = SystemRandom::new();
    // At most as many wrong tries as a counter can hold; a password that will not block is
    // left to TERMINATE DF to refuse.
    for _ in 0..16 {
        if super::password_status(transport, counter)? == Verification::Blocked {
            break;
        }
        let mut wrong = [0u8; 16];
        rng.fill(&mut wrong)
            .map_err(|_| IssueError::Kdf(KdfError::Random))?;
        // Sixteen random letters: not the password, whatever it is.
        let wrong: String = wrong.iter().map(|b| char::from(b'a' + b % 26)).collect();
        let r = run(
            transport,
            NAME,
            Command::new(0x00, ins::VERIFY, 0x00, reference),
            Some(wrong.as_bytes()),
            None,
        )?;
        match r.status {
            StatusWord::RemainingRetries(_)
            | StatusWord::AuthMethodBlocked
            | StatusWord::SecurityStatusNotSatisfied => {}
            other => return Err(CardError::unexpected(NAME, other).into()),
        }
    }
    Ok(())
}

/// TERMINATE DF (unless the card is terminated already), then ACTIVATE FILE.
fn terminate_and_activate<T: CardTransport + ?Sized>(
    transport: &mut T,
    terminate: bool,
) -> Result<(), IssueError> {
    let steps = [
        ("TERMINATE DF", ins::TERMINATE_DF),
        ("ACTIVATE FILE", ins::ACTIVATE_FILE),
    ];
    for (name, ins) in steps.into_iter().skip(usize::from(!terminate)) {
        let r = run(
            transport,
            name,
            Command::new(0x00, ins, 0x00, 0x00),
            None,
            None,
        )?;
        expect_success(name, &r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_sha1_of_the_v4_packet() {
        let mut point = [0x11u8; EC_POINT_LEN];
        point[0] = 0x04;
        let mut packet = vec![0x99, 0x00, 0x52, 4, 0x5F, 0x00, 0x00, 0x00, 19, 8];
        packet.extend_from_slice(&P256_OID);
        packet.extend_from_slice(&[0x02, 0x03]);
        packet.extend_from_slice(&point);
        assert_eq!(packet.len(), 3 + 0x52);
        assert_eq!(
            v4_fingerprint(&point, 0x5F00_0000).as_slice(),
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &packet).as_ref()
        );
    }
}
