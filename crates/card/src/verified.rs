//! A memo of certificates whose issuer signature has already been checked.
//!
//! The same operator card is presented again and again at its terminal, and its certificate
//! never changes; checking the issuer's Ed25519 signature on every login is a fixed cost per
//! login that buys nothing after the first. The memo holds the SHA-256 of the whole encoded
//! certificate (its body *and* signature) that verified under one issuer key: a certificate
//! whose bytes differ in any way is checked again. Everything that can change from one login
//! to the next (revocation, validity dates, the register, the card's own key proof) is checked
//! every time, outside the memo.

use crate::cert::{CertError, Certificate};
use crate::issuer::IssuerPublicKey;
use std::collections::HashSet;
use std::sync::Mutex;

/// How many certificates the memo keeps; when full it starts again (an office has far fewer
/// cards, and a full memo only costs signature checks).
pub const VERIFIED_CAPACITY: usize = 4096;

/// Certificates known to carry a good signature of one issuer.
#[derive(Debug)]
pub struct VerifiedCertificates {
    issuer: IssuerPublicKey,
    seen: Mutex<HashSet<[u8; 32]>>,
}

impl VerifiedCertificates {
    /// An empty memo for certificates of `issuer`.
    pub fn new(issuer: IssuerPublicKey) -> Self {
        VerifiedCertificates {
            issuer,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// The issuer key the memo checks against.
    pub fn issuer(&self) -> &IssuerPublicKey {
        &self.issuer
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        // A set of digests: a panic elsewhere cannot leave it half-written in a way that
        // matters (at worst a certificate is checked again).
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Certificate::verify_issuer`], answered from the memo when these exact certificate
    /// bytes verified before. A failure is never remembered.
    pub fn verify_issuer(&self, cert: &Certificate) -> Result<(), CertError> {
        let digest = digest_of(cert);
        if self.seen().contains(&digest) {
            return Ok(());
        }
        cert.verify_issuer(&self.issuer)?;
        let mut seen = self.seen();
        if seen.len() >= VERIFIED_CAPACITY {
            seen.clear();
        }
        seen.insert(digest);
        Ok(())
    }

    /// How many certificates are remembered.
    pub fn len(&self) -> usize {
        self.seen().len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn digest_of(cert: &Certificate) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, &cert.encode());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cert::{CardSerial, CertificateBody, Role, EC_POINT_LEN};
    use crate::issuer::IssuerKey;
    use time::macros::date;

    fn sample(issuer: &IssuerKey, serial: u8) -> Certificate {
        let mut point = [0x04; EC_POINT_LEN];
        point[1] = 7;
        CertificateBody {
            serial: CardSerial([1, 2, 3, 4, 5, 6, 7, serial]),
            operator_id: "op-0042".into(),
            role: Role::Operator,
            valid_from: date!(2026 - 04 - 01),
            valid_until: date!(2027 - 03 - 31),
            issuer_key_id: [0; 8],
            card_public_key: point,
        }
        .sign(issuer)
        .unwrap()
    }

    #[test]
    fn a_good_certificate_is_remembered_and_a_changed_one_is_checked_again() {
        let issuer = IssuerKey::generate().unwrap();
        let memo = VerifiedCertificates::new(issuer.public_key());
        let cert = sample(&issuer, 1);
        memo.verify_issuer(&cert).unwrap();
        memo.verify_issuer(&cert).unwrap();
        assert_eq!(memo.len(), 1);
        // The same body with another signature: not the remembered bytes, so checked, and
        // refused.
        let mut forged = cert.clone();
        forged.signature[0] ^= 1;
        assert!(matches!(
            memo.verify_issuer(&forged),
            Err(CertError::BadSignature)
        ));
        // A changed body under the remembered signature: refused too.
        let mut changed = cert.clone();
        changed.body.operator_id = "op-0043".into();
        assert!(matches!(
            memo.verify_issuer(&changed),
            Err(CertError::BadSignature)
        ));
        // Failures are never remembered.
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn a_certificate_of_another_issuer_is_refused_even_when_the_memo_is_warm() {
        let ours = IssuerKey::generate().unwrap();
        let theirs = IssuerKey::generate().unwrap();
        let memo = VerifiedCertificates::new(ours.public_key());
        memo.verify_issuer(&sample(&ours, 1)).unwrap();
        assert!(matches!(
            memo.verify_issuer(&sample(&theirs, 1)),
            Err(CertError::UnknownIssuer(_))
        ));
    }

    #[test]
    fn a_full_memo_starts_again() {
        let issuer = IssuerKey::generate().unwrap();
        let memo = VerifiedCertificates::new(issuer.public_key());
        let cert = sample(&issuer, 1);
        memo.seen().extend((0..VERIFIED_CAPACITY).map(|i| {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            d
        }));
        memo.verify_issuer(&cert).unwrap();
        assert_eq!(memo.len(), 1);
    }
}
