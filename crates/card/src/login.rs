//! The login, exactly as the contract's "Login" section runs it:
//!
//! 1. SELECT → certificate; check structure, issuer, signature, revocation and validity
//!    **before** the PIN goes anywhere near the card;
//! 2. check the PIN's format locally (a PIN that cannot be valid costs no try);
//! 3. VERIFY;
//! 4. INTERNAL AUTHENTICATE with a fresh 32-byte challenge, checked against the certificate's
//!    card key. Only then is the operator authenticated.
//!
//! Steps 1 and 2–4 are also available separately ([`present_card`], [`authenticate`]) so that
//! the daemon can refuse a revoked card before it even asks for the PIN.

use crate::cert::{CardSerial, CertError, Certificate, Role};
use crate::commands::{CardError, OperatorCard, Verification, CHALLENGE_LEN};
use crate::issuer::IssuerPublicKey;
use crate::revocation::{RevocationList, RevocationReason};
use crate::secret::{Pin, SecretFormatError, SecretString};
use crate::verified::VerifiedCertificates;
use cardgate_reader::CardTransport;
use ring::rand::{SecureRandom, SystemRandom};
use time::Date;

/// What a terminal trusts and knows when a card is presented.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy<'a> {
    /// The access manager's issuer key.
    pub issuer: &'a IssuerPublicKey,
    /// The revocation list in force.
    pub revocation: &'a RevocationList,
    /// Today's date in the terminal's legal time zone (validity dates are whole days).
    pub today: Date,
}

/// A card holder who passed all four steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedOperator {
    /// The card.
    pub serial: CardSerial,
    /// Who holds it.
    pub operator_id: String,
    /// What they may do.
    pub role: Role,
    /// Last day of validity.
    pub valid_until: Date,
    /// The whole certificate.
    pub certificate: Certificate,
}

/// Why a login did not authenticate anyone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The card left the reader during the login.
    #[error("the card was removed during login")]
    CardRemoved,
    /// Not an operator card.
    #[error("this card has no cardgate operator application")]
    NotOperatorCard,
    /// A blank card.
    #[error("this card has not been personalised")]
    NotPersonalised,
    /// The certificate does not parse or its signature does not verify.
    #[error("the card's certificate is invalid")]
    BadCertificate(#[source] CertError),
    /// The certificate was issued by another key.
    #[error("the card was issued by an unknown issuer")]
    UnknownIssuer,
    /// On the revocation list.
    #[error("the card has been revoked ({reason})")]
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When (Unix seconds).
        revoked_at: i64,
    },
    /// Past its last day.
    #[error("the card expired on {valid_until}")]
    Expired {
        /// Last valid day.
        valid_until: Date,
    },
    /// Before its first day.
    #[error("the card is not valid before {valid_from}")]
    NotYetValid {
        /// First valid day.
        valid_from: Date,
    },
    /// The PIN entered cannot be a PIN; no try was spent.
    #[error("the PIN {0}; no try was used")]
    MalformedPin(#[source] SecretFormatError),
    /// Wrong PIN.
    #[error("{}", wrong_pin_message(*remaining))]
    WrongPin {
        /// Tries left (0: now blocked).
        remaining: u8,
    },
    /// The PIN is blocked; the access manager must unblock it with the PUK.
    #[error("the PIN is blocked; ask the access manager to unblock the card")]
    PinBlocked,
    /// The card could not prove it holds the certificate's key (a copied certificate).
    #[error("the card failed to prove it holds the certified key")]
    CardAuthenticationFailed,
    /// The system random generator failed.
    #[error("no randomness for the challenge")]
    Random,
    /// Any other protocol failure.
    #[error("card protocol error")]
    Card(#[source] CardError),
}

fn wrong_pin_message(remaining: u8) -> String {
    match remaining {
        0 => "wrong PIN; the card is now blocked".to_owned(),
        1 => "wrong PIN, 1 try left".to_owned(),
        n => format!("wrong PIN, {n} tries left"),
    }
}

impl From<CardError> for LoginError {
    fn from(e: CardError) -> Self {
        if e.is_card_gone() {
            return LoginError::CardRemoved;
        }
        match e {
            CardError::ApplicationNotFound => LoginError::NotOperatorCard,
            CardError::Certificate(c) => LoginError::BadCertificate(c),
            other => LoginError::Card(other),
        }
    }
}

/// Checks a certificate against the policy: issuer, signature, revocation, then dates.
/// Revocation is reported before expiry, because a revoked card presented is the event the
/// access manager most needs to see.
pub fn check_certificate(cert: &Certificate, policy: &LoginPolicy<'_>) -> Result<(), LoginError> {
    match cert.verify_issuer(policy.issuer) {
        Ok(()) => {}
        Err(CertError::UnknownIssuer(_)) => return Err(LoginError::UnknownIssuer),
        Err(e) => return Err(LoginError::BadCertificate(e)),
    }
    check_validity(cert, policy)
}

/// What is checked at every presentation whatever the memo says: revocation, then dates.
fn check_validity(cert: &Certificate, policy: &LoginPolicy<'_>) -> Result<(), LoginError> {
    if let Some(r) = policy.revocation.lookup(&cert.body.serial) {
        return Err(LoginError::Revoked {
            reason: r.reason,
            revoked_at: r.revoked_at,
        });
    }
    if policy.today < cert.body.valid_from {
        return Err(LoginError::NotYetValid {
            valid_from: cert.body.valid_from,
        });
    }
    if policy.today > cert.body.valid_until {
        return Err(LoginError::Expired {
            valid_until: cert.body.valid_until,
        });
    }
    Ok(())
}

/// [`check_certificate`], with the issuer signature answered from `memo` when these exact
/// certificate bytes verified before under the same key (the daemon's every login after a
/// card's first). Revocation and dates are checked every time.
pub fn check_certificate_memo(
    cert: &Certificate,
    policy: &LoginPolicy<'_>,
    memo: &VerifiedCertificates,
) -> Result<(), LoginError> {
    if memo.issuer() != policy.issuer {
        return check_certificate(cert, policy);
    }
    match memo.verify_issuer(cert) {
        Ok(()) => {}
        Err(CertError::UnknownIssuer(_)) => return Err(LoginError::UnknownIssuer),
        Err(e) => return Err(LoginError::BadCertificate(e)),
    }
    check_validity(cert, policy)
}

/// Step 1: SELECT and check the certificate. Nothing secret is sent.
pub fn present_card<T: CardTransport>(
    card: &mut OperatorCard<T>,
    policy: &LoginPolicy<'_>,
) -> Result<Certificate, LoginError> {
    let cert = card.select()?.ok_or(LoginError::NotPersonalised)?;
    check_certificate(&cert, policy)?;
    Ok(cert)
}

/// Steps 2–4 on a card whose certificate passed [`present_card`] in the same card session.
pub fn authenticate<T: CardTransport>(
    card: &mut OperatorCard<T>,
    cert: Certificate,
    pin: &SecretString,
) -> Result<AuthenticatedOperator, LoginError> {
    let pin = Pin::try_from(pin).map_err(LoginError::MalformedPin)?;
    match card.verify_pin(&pin)? {
        Verification::Verified => {}
        Verification::Wrong { remaining } => return Err(LoginError::WrongPin { remaining }),
        Verification::Blocked => return Err(LoginError::PinBlocked),
    }
    drop(pin);
    let mut challenge = [0u8; CHALLENGE_LEN];
    SystemRandom::new()
        .fill(&mut challenge)
        .map_err(|_| LoginError::Random)?;
    let signature = match card.internal_authenticate(&challenge) {
        Ok(sig) => sig,
        Err(e) if e.is_card_gone() => return Err(LoginError::CardRemoved),
        Err(
            CardError::Unexpected { .. }
            | CardError::BadResponseData { .. }
            | CardError::SecurityStatusNotSatisfied { .. },
        ) => return Err(LoginError::CardAuthenticationFailed),
        Err(e) => return Err(e.into()),
    };
    if !cert.verify_card_signature(&challenge, &signature) {
        return Err(LoginError::CardAuthenticationFailed);
    }
    Ok(AuthenticatedOperator {
        serial: cert.body.serial,
        operator_id: cert.body.operator_id.clone(),
        role: cert.body.role,
        valid_until: cert.body.valid_until,
        certificate: cert,
    })
}

/// The whole login: [`present_card`] then [`authenticate`].
pub fn login<T: CardTransport>(
    transport: T,
    policy: &LoginPolicy<'_>,
    pin: &SecretString,
) -> Result<AuthenticatedOperator, LoginError> {
    let mut card = OperatorCard::new(transport);
    let cert = present_card(&mut card, policy)?;
    authenticate(&mut card, cert, pin)
}
