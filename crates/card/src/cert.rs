//! The operator-card certificate (`7F21`): parse, build, sign and check.
//!
//! The encoding is fixed by the contract: eight BER-TLV objects in a fixed order, the last
//! (`5F37`) an Ed25519 signature by the issuer over the exact bytes of the seven before it.
//! We parse with `iso7816-tlv` and then require that our own minimal encoding of what we
//! parsed gives back the input byte for byte, so the signed bytes are unambiguous.

use crate::issuer::{IssuerKey, IssuerKeyId, IssuerPublicKey, KEY_ID_LEN};
use crate::tlv::{self, TlvError};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use std::fmt;
use time::Date;

/// Outer certificate tag.
pub const TAG_CERTIFICATE: &[u8] = &[0x7F, 0x21];
const TAG_SERIAL: &[u8] = &[0x5A];
const TAG_OPERATOR: &[u8] = &[0x5F, 0x20];
const TAG_ROLE: &[u8] = &[0x5F, 0x4C];
const TAG_VALID_FROM: &[u8] = &[0x5F, 0x25];
const TAG_VALID_UNTIL: &[u8] = &[0x5F, 0x24];
const TAG_ISSUER: &[u8] = &[0x42];
/// Public key template tag.
pub const TAG_PUBLIC_KEY: &[u8] = &[0x7F, 0x49];
/// Uncompressed EC point tag inside `7F49`.
pub const TAG_EC_POINT: &[u8] = &[0x86];
const TAG_SIGNATURE: &[u8] = &[0x5F, 0x37];

/// The domain-separation prefix of INTERNAL AUTHENTICATE.
pub const AUTH_PREFIX: &[u8] = b"CARDGATE-AUTH-V1";
/// Length of an uncompressed P-256 point.
pub const EC_POINT_LEN: usize = 65;
/// Longest operator ID, in bytes.
pub const MAX_OPERATOR_ID_LEN: usize = 32;

/// A card serial number: 8 bytes, shown as 16 upper-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardSerial(pub [u8; 8]);

impl CardSerial {
    /// Parses 16 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        // `from_str_radix` alone would take a sign (`+F`): require hex digits only.
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 8];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(CardSerial(out))
    }
}

impl fmt::Display for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tlv::hex(&self.0))
    }
}

impl fmt::Debug for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardSerial({self})")
    }
}

/// What the card holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `01`: an operator (住基ネット運用担当職員).
    Operator,
    /// `02`: the access manager (アクセス管理責任者).
    AccessManager,
}

impl Role {
    /// The byte in `5F4C`.
    pub fn to_byte(self) -> u8 {
        match self {
            Role::Operator => 0x01,
            Role::AccessManager => 0x02,
        }
    }

    /// From the byte in `5F4C`.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(Role::Operator),
            0x02 => Some(Role::AccessManager),
            _ => None,
        }
    }

    /// The name used on command lines and in records: `operator` or `manager`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::AccessManager => "manager",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a certificate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The TLV structure is wrong.
    #[error("certificate structure: {0}")]
    Structure(#[from] TlvError),
    /// The operator ID is empty, too long or not UTF-8.
    #[error("certificate operator ID must be 1-{MAX_OPERATOR_ID_LEN} bytes of UTF-8")]
    BadOperatorId,
    /// The role byte is neither `01` nor `02`.
    #[error("certificate role byte {0:02X} is unknown")]
    BadRole(u8),
    /// A date is not a real `YYYYMMDD` date.
    #[error("certificate date is not a valid YYYYMMDD date")]
    BadDate,
    /// `valid until` is before `valid from`.
    #[error("certificate validity period ends before it starts")]
    InvertedValidity,
    /// The card public key is not an uncompressed P-256 point.
    #[error("certificate card key is not an uncompressed P-256 point")]
    BadCardKey,
    /// Signed by a key other than the configured issuer.
    #[error("certificate issued by an unknown key {0}")]
    UnknownIssuer(String),
    /// The issuer signature does not verify.
    #[error("certificate issuer signature does not verify")]
    BadSignature,
}

/// The signed part of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateBody {
    /// `5A`.
    pub serial: CardSerial,
    /// `5F20`.
    pub operator_id: String,
    /// `5F4C`.
    pub role: Role,
    /// `5F25`: first day of validity.
    pub valid_from: Date,
    /// `5F24`: last day of validity (inclusive).
    pub valid_until: Date,
    /// `42`.
    pub issuer_key_id: IssuerKeyId,
    /// `7F49/86`: the card's P-256 public key, uncompressed.
    pub card_public_key: [u8; EC_POINT_LEN],
}

/// A certificate as stored on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The signed fields.
    pub body: CertificateBody,
    /// `5F37`: Ed25519 signature over the encoded body.
    pub signature: [u8; 64],
}

fn encode_date(d: Date) -> [u8; 8] {
    let s = format!(
        "{:04}{:02}{:02}",
        d.year().clamp(0, 9999),
        u8::from(d.month()),
        d.day()
    );
    let mut out = [b'0'; 8];
    out.copy_from_slice(&s.as_bytes()[..8]);
    out
}

/// Parses `YYYYMMDD` (ASCII digits only, a real calendar date).
pub fn parse_date(bytes: &[u8]) -> Option<Date> {
    if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        bytes[r]
            .iter()
            .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'))
    };
    let month = time::Month::try_from(u8::try_from(num(4..6)).ok()?).ok()?;
    Date::from_calendar_date(
        i32::try_from(num(0..4)).ok()?,
        month,
        u8::try_from(num(6..8)).ok()?,
    )
    .ok()
}

/// Parses `YYYY-MM-DD`, the command-line form.
pub fn parse_iso_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let mut compact = [0u8; 8];
    compact[..4].copy_from_slice(&b[..4]);
    compact[4..6].copy_from_slice(&b[5..7]);
    compact[6..].copy_from_slice(&b[8..]);
    parse_date(&compact)
}

impl CertificateBody {
    /// The exact bytes the issuer signs: the seven TLVs in contract order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        tlv::encode_into(&mut out, TAG_SERIAL, &self.serial.0);
        tlv::encode_into(&mut out, TAG_OPERATOR, self.operator_id.as_bytes());
        tlv::encode_into(&mut out, TAG_ROLE, &[self.role.to_byte()]);
        tlv::encode_into(&mut out, TAG_VALID_FROM, &encode_date(self.valid_from));
        tlv::encode_into(&mut out, TAG_VALID_UNTIL, &encode_date(self.valid_until));
        tlv::encode_into(&mut out, TAG_ISSUER, &self.issuer_key_id);
        let point = tlv::encode(TAG_EC_POINT, &self.card_public_key);
        tlv::encode_into(&mut out, TAG_PUBLIC_KEY, &point);
        out
    }

    /// Checks the fields that do not need a key: operator ID, dates, point form.
    pub fn check_fields(&self) -> Result<(), CertError> {
        if self.operator_id.is_empty() || self.operator_id.len() > MAX_OPERATOR_ID_LEN {
            return Err(CertError::BadOperatorId);
        }
        if self.valid_until < self.valid_from {
            return Err(CertError::InvertedValidity);
        }
        if !(0..=9999).contains(&self.valid_from.year())
            || !(0..=9999).contains(&self.valid_until.year())
        {
            return Err(CertError::BadDate);
        }
        if self.card_public_key[0] != 0x04 {
            return Err(CertError::BadCardKey);
        }
        Ok(())
    }

    /// Signs the body with the issuer key. The body's issuer key ID is set from the key.
    pub fn sign(mut self, issuer: &IssuerKey) -> Result<Certificate, CertError> {
        self.issuer_key_id = issuer.public_key().key_id();
        self.check_fields()?;
        let signature = issuer.sign(&self.encode());
        Ok(Certificate {
            body: self,
            signature,
        })
    }
}

impl Certificate {
    /// The whole `7F21` object, as GET DATA returns it and PUT DATA takes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut inner = self.body.encode();
        tlv::encode_into(&mut inner, TAG_SIGNATURE, &self.signature);
        tlv::encode(TAG_CERTIFICATE, &inner)
    }

    /// Parses the `7F21` object. Checks structure and field syntax, not the signature.
    pub fn parse(bytes: &[u8]) -> Result<Self, CertError> {
        let outer = tlv::parse_exact(bytes, TAG_CERTIFICATE)?;
        Self::from_tlv(&outer, bytes)
    }

    /// From an already parsed `7F21` object; `raw` is its encoding as received.
    pub(crate) fn from_tlv(outer: &iso7816_tlv::ber::Tlv, raw: &[u8]) -> Result<Self, CertError> {
        let items = tlv::children(outer, 8)?;
        let serial = CardSerial(tlv::fixed::<8>(&items[0], TAG_SERIAL)?);
        let operator_id = std::str::from_utf8(tlv::primitive(&items[1], TAG_OPERATOR)?)
            .map_err(|_| CertError::BadOperatorId)?
            .to_owned();
        let [role] = tlv::fixed::<1>(&items[2], TAG_ROLE)?;
        let role = Role::from_byte(role).ok_or(CertError::BadRole(role))?;
        let valid_from =
            parse_date(tlv::primitive(&items[3], TAG_VALID_FROM)?).ok_or(CertError::BadDate)?;
        let valid_until =
            parse_date(tlv::primitive(&items[4], TAG_VALID_UNTIL)?).ok_or(CertError::BadDate)?;
        let issuer_key_id = tlv::fixed::<KEY_ID_LEN>(&items[5], TAG_ISSUER)?;
        tlv::expect_tag(&items[6], TAG_PUBLIC_KEY)?;
        let point = tlv::children(&items[6], 1)?;
        let card_public_key = tlv::fixed::<EC_POINT_LEN>(&point[0], TAG_EC_POINT)?;
        let signature = tlv::fixed::<64>(&items[7], TAG_SIGNATURE)?;
        let cert = Certificate {
            body: CertificateBody {
                serial,
                operator_id,
                role,
                valid_from,
                valid_until,
                issuer_key_id,
                card_public_key,
            },
            signature,
        };
        cert.body.check_fields()?;
        if cert.encode() != raw {
            return Err(TlvError::NotCanonical.into());
        }
        Ok(cert)
    }

    /// Checks that the issuer is the configured one and that its signature holds.
    pub fn verify_issuer(&self, issuer: &IssuerPublicKey) -> Result<(), CertError> {
        if self.body.issuer_key_id != issuer.key_id() {
            return Err(CertError::UnknownIssuer(tlv::hex(&self.body.issuer_key_id)));
        }
        if issuer.verify(&self.body.encode(), &self.signature) {
            Ok(())
        } else {
            Err(CertError::BadSignature)
        }
    }

    /// Checks an INTERNAL AUTHENTICATE answer (`r || s`) against the certificate's card key.
    pub fn verify_card_signature(&self, challenge: &[u8], signature: &[u8]) -> bool {
        let mut message = Vec::with_capacity(AUTH_PREFIX.len() + challenge.len());
        message.extend_from_slice(AUTH_PREFIX);
        message.extend_from_slice(challenge);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.body.card_public_key)
            .verify(&message, signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn sample(issuer: &IssuerKey) -> Certificate {
        let mut point = [0x04; EC_POINT_LEN];
        point[1] = 7;
        CertificateBody {
            serial: CardSerial([1, 2, 3, 4, 5, 6, 7, 8]),
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
    fn encode_parse_round_trip_and_signature() {
        let issuer = IssuerKey::generate().unwrap();
        let cert = sample(&issuer);
        let bytes = cert.encode();
        assert_eq!(&bytes[..3], &[0x7F, 0x21, 0x81]);
        let back = Certificate::parse(&bytes).unwrap();
        assert_eq!(back, cert);
        back.verify_issuer(&issuer.public_key()).unwrap();
        let other = IssuerKey::generate().unwrap();
        assert!(matches!(
            back.verify_issuer(&other.public_key()),
            Err(CertError::UnknownIssuer(_))
        ));
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let issuer = IssuerKey::generate().unwrap();
        let bytes = sample(&issuer).encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let ok = Certificate::parse(&bad)
                .and_then(|c| c.verify_issuer(&issuer.public_key()))
                .is_ok();
            assert!(!ok, "flipping byte {i} went unnoticed");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"20270331"), Some(date!(2027 - 03 - 31)));
        assert_eq!(parse_date(b"20270230"), None);
        assert_eq!(parse_date(b"2027033a"), None);
        assert_eq!(parse_iso_date("2027-03-31"), Some(date!(2027 - 03 - 31)));
        assert_eq!(parse_iso_date("2027/03/31"), None);
        assert_eq!(
            CardSerial::from_hex("0102030405060708")
                .unwrap()
                .to_string(),
            "0102030405060708"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Certificate::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_near_valid(pos in 0usize..230, val in any::<u8>(), cut in 0usize..230) {
            let issuer = IssuerKey::generate().unwrap();
            let mut bytes = sample(&issuer).encode();
            let p = pos % bytes.len();
            bytes[p] = val;
            bytes.truncate(cut.max(1));
            let _ = Certificate::parse(&bytes);
        }
    }
}
