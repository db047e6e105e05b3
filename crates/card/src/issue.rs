//! Personalising a blank card (art. 5.1: the access manager lends a card to one operator).
//!
//! The card makes its own key; the private half never leaves it. The flow, all in one card
//! session: SELECT (the card must be blank), VERIFY (PUK), GENERATE ASYMMETRIC KEY PAIR,
//! RESET RETRY COUNTER with the PUK to set the operator's initial PIN, then PUT DATA of the
//! certificate the issuer signs over the new public key.
//!
//! The certificate goes last because it is what makes the card personalised: a card pulled
//! at any earlier step has none, so it is still blank to the next issuance (GENERATE replaces
//! the key, RESET RETRY COUNTER the PIN). With the PIN last, a card pulled between the two
//! carried a certificate without a PIN: refused as already personalised, and useless.

use crate::cert::{CardSerial, CertError, Certificate, CertificateBody, Role, EC_POINT_LEN};
use crate::commands::{CardError, OperatorCard, Verification};
use crate::issuer::IssuerKey;
use crate::secret::{Pin, Puk};
use cardgate_reader::CardTransport;
use time::Date;

/// What the access manager decides when lending a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The card's serial number (chosen by the register).
    pub serial: CardSerial,
    /// The operator the card is lent to.
    pub operator_id: String,
    /// The holder's role.
    pub role: Role,
    /// First day of validity.
    pub valid_from: Date,
    /// Last day of validity.
    pub valid_until: Date,
}

impl IssueRequest {
    /// The certificate `issuer` signs for this request over the key the card generated.
    pub fn certificate(
        &self,
        issuer: &IssuerKey,
        card_public_key: [u8; EC_POINT_LEN],
    ) -> Result<Certificate, CertError> {
        CertificateBody {
            serial: self.serial,
            operator_id: self.operator_id.clone(),
            role: self.role,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            issuer_key_id: issuer.public_key().key_id(),
            card_public_key,
        }
        .sign(issuer)
    }
}

/// Why a card could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The card already carries a certificate.
    #[error("the card is already personalised (serial {0})")]
    AlreadyPersonalised(CardSerial),
    /// Wrong transport PUK.
    #[error("wrong PUK, {remaining} tries left")]
    WrongPuk {
        /// Tries left.
        remaining: u8,
    },
    /// The PUK is blocked: the card cannot be personalised any more.
    #[error("the PUK is blocked; the card must be replaced")]
    PukBlocked,
    /// The certificate could not be made.
    #[error("could not build the certificate")]
    Certificate(#[from] CertError),
    /// The card failed.
    #[error("card error during issuance")]
    Card(#[from] CardError),
    /// Wrong admin PIN (PW3) of an OpenPGP card.
    #[error("wrong admin PIN, {remaining} tries left")]
    WrongAdminPin {
        /// Tries left.
        remaining: u8,
    },
    /// The OpenPGP card's admin PIN is blocked: only a factory reset opens it again.
    #[error("the admin PIN is blocked; the card must be reset to its factory state")]
    AdminPinBlocked,
    /// No PIN hashing setting could be made.
    #[error("could not set up PIN hashing (KDF-DO)")]
    Kdf(#[source] crate::openpgp::kdf::KdfError),
}

fn puk_outcome(v: Verification) -> Result<(), IssueError> {
    match v {
        Verification::Verified => Ok(()),
        Verification::Wrong { remaining } => Err(IssueError::WrongPuk { remaining }),
        Verification::Blocked => Err(IssueError::PukBlocked),
    }
}

/// Personalises a blank card and sets its initial PIN. Returns the certificate written.
pub fn issue_card<T: CardTransport>(
    card: &mut OperatorCard<T>,
    issuer: &IssuerKey,
    puk: &Puk,
    request: &IssueRequest,
    initial_pin: &Pin,
) -> Result<Certificate, IssueError> {
    if let Some(existing) = card.select()? {
        return Err(IssueError::AlreadyPersonalised(existing.body.serial));
    }
    puk_outcome(card.verify_puk(puk)?)?;
    let card_public_key = card.generate_key_pair()?;
    let cert = request.certificate(issuer, card_public_key)?;
    puk_outcome(card.unblock_pin(puk, initial_pin)?)?;
    card.put_certificate(&cert)?;
    Ok(cert)
}

/// What the access manager types for an issuance: it depends on the card's profile.
#[derive(Debug)]
pub enum IssueSecrets<'a> {
    /// operator-card-v1: the card's transport PUK and the operator's initial PIN.
    OperatorCardV1 {
        /// The transport PUK (it stays the card's PUK).
        puk: &'a Puk,
        /// The operator's first PIN.
        initial_pin: &'a Pin,
    },
    /// An OpenPGP card: its admin PIN now and from now on, the PUK it is given as its Reset
    /// Code, and the operator's initial PIN.
    OpenPgp(crate::openpgp::issue::IssueSecrets<'a>),
}

/// Issues the card with the secrets of its profile ([`issue_card`], or
/// [`crate::openpgp::issue::issue_card`] with `now` as the key's generation time). Secrets
/// of the other profile are refused before anything is written.
pub fn issue_with<T: CardTransport>(
    card: &mut OperatorCard<T>,
    issuer: &IssuerKey,
    secrets: &IssueSecrets<'_>,
    request: &IssueRequest,
    now: u32,
) -> Result<Certificate, IssueError> {
    match secrets {
        IssueSecrets::OperatorCardV1 { puk, initial_pin } => {
            issue_card(card, issuer, puk, request, initial_pin)
        }
        IssueSecrets::OpenPgp(secrets) => {
            if let Some(existing) = card.select()? {
                return Err(IssueError::AlreadyPersonalised(existing.body.serial));
            }
            let profile = card.profile().map(crate::commands::Profile::name);
            let Some((transport, app)) = card.openpgp_parts() else {
                return Err(CardError::NotInProfile {
                    command: "OpenPGP issuance",
                    profile: profile.unwrap_or("not selected"),
                }
                .into());
            };
            crate::openpgp::issue::issue_card(transport, app, issuer, secrets, request, now)
        }
    }
}

/// Unblocks a PIN with the PUK and sets a new one (RESET RETRY COUNTER).
pub fn unblock<T: CardTransport>(
    card: &mut OperatorCard<T>,
    puk: &Puk,
    new_pin: &Pin,
) -> Result<(), IssueError> {
    card.select()?;
    puk_outcome(card.unblock_pin(puk, new_pin)?)
}
