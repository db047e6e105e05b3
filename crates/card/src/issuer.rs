//! The issuer key: the access manager's Ed25519 key that signs card certificates and
//! revocation lists.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use std::fmt;
use zeroize::Zeroizing;

/// The length of an issuer key ID (`42` in the certificate).
pub const KEY_ID_LEN: usize = 8;

/// First 8 bytes of SHA-256 of the issuer's public key.
pub type IssuerKeyId = [u8; KEY_ID_LEN];

/// Why an issuer key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerKeyError {
    /// The PKCS#8 document is not an Ed25519 key.
    #[error("the issuer key is not a valid Ed25519 PKCS#8 key: {0}")]
    Rejected(ring::error::KeyRejected),
    /// The public key text is not 64 hex digits.
    #[error("the issuer public key must be 64 hex digits (32 bytes)")]
    BadPublicKey,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// The issuer's public key, which every terminal holds to check certificates and lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IssuerPublicKey([u8; 32]);

impl IssuerPublicKey {
    /// From the raw 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        IssuerPublicKey(bytes)
    }

    /// From 64 hex digits (surrounding white space allowed), the form of `issuer.pub`.
    pub fn from_hex(text: &str) -> Result<Self, IssuerKeyError> {
        let text = text.trim();
        let mut out = [0u8; 32];
        // `from_str_radix` alone would take a sign (`+F`): require hex digits only.
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IssuerKeyError::BadPublicKey);
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| IssuerKeyError::BadPublicKey)?;
        }
        Ok(IssuerPublicKey(out))
    }

    /// Lower-case hex, the form of `issuer.pub`.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key ID that certificates and lists name.
    pub fn key_id(&self) -> IssuerKeyId {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        id
    }

    /// Checks an Ed25519 signature made by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Debug for IssuerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuerPublicKey({})", self.to_hex())
    }
}

/// The issuer's signing key. Its PKCS#8 form is kept in a zeroizing buffer.
pub struct IssuerKey {
    pair: Ed25519KeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("public", &self.public_key())
            .field("private", &"REDACTED")
            .finish()
    }
}

impl IssuerKey {
    /// Makes a new key from the system random generator.
    pub fn generate() -> Result<Self, IssuerKeyError> {
        let rng = SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| IssuerKeyError::Random)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a PKCS#8 (v2, as ring writes it) Ed25519 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, IssuerKeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(IssuerKeyError::Rejected)?;
        Ok(IssuerKey {
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    /// The PKCS#8 document, for writing `issuer.key`.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half.
    pub fn public_key(&self) -> IssuerPublicKey {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        IssuerPublicKey(out)
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_signature() {
        let key = IssuerKey::generate().unwrap();
        let public = key.public_key();
        assert_eq!(IssuerPublicKey::from_hex(&public.to_hex()).unwrap(), public);
        let sig = key.sign(b"hello");
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellO", &sig));
        assert!(IssuerPublicKey::from_hex("zz").is_err());
        assert!(IssuerPublicKey::from_hex(&"é".repeat(32)).is_err());
        assert!(!format!("{key:?}").contains(&hex::encode(&key.pkcs8()[16..48])));
    }
}
