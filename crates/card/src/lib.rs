//! The cardgate operator-card protocol (`operator-card-v1`), host side.
//!
//! * [`apdu`] and [`status`]: command/response APDUs and the status-word enum;
//! * [`commands`]: one function per command of the contract, over one send path that follows
//!   `61xx` and `6Cxx`;
//! * [`cert`] and [`tlv`]: the `7F21` certificate in BER-TLV, signed by the [`issuer`] key;
//! * [`secret`] and [`policy`]: PINs and PUKs as zeroizing, redacted types, and the PIN policy
//!   of art. 5.5;
//! * [`revocation`]: the signed revocation list of art. 5.4;
//! * [`login`](mod@login): the four steps of the contract's login.
#![forbid(unsafe_code)]

pub mod apdu;
pub mod cert;
pub mod commands;
pub mod issue;
pub mod issuer;
pub mod login;
pub mod openpgp;
pub mod policy;
pub mod revocation;
pub mod secret;
pub mod status;
pub mod tlv;
pub mod verified;

pub use apdu::{Command, Response};
pub use cert::{CardSerial, Certificate, CertificateBody, Role};
pub use commands::{reselect, CardError, OperatorCard, Verification, AID};
pub use issuer::{IssuerKey, IssuerPublicKey};
pub use login::{login, AuthenticatedOperator, LoginError, LoginPolicy};
pub use revocation::{RevocationList, RevocationReason, RevocationTracker};
pub use secret::{AdminPin, Pin, Puk, SecretString};
pub use status::StatusWord;
pub use verified::VerifiedCertificates;

/// Compares two secrets in constant time (ring's comparison, which its 0.17 line keeps under a
/// deprecated name until a replacement lands).
#[allow(deprecated)]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    ring::constant_time::verify_slices_are_equal(a, b).is_ok()
}
