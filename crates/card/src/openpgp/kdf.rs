//! The OpenPGP card's KDF-DO (`F9`, v3.4 § 4.3.2): with it on, the host sends the card an
//! iterated, salted SHA-256 of each password (RFC 4880 § 3.7.1.3) instead of the password,
//! so the PIN itself never crosses the reader. The card compares bytes; it never hashes.
//!
//! The DO is read without any password, so the host learns at every operation how to turn a
//! typed PIN into what the card expects.

use crate::tlv;
use ring::digest::{Context, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Tag of the KDF-DO.
pub const TAG_KDF: &[u8] = &[0xF9];
/// Bytes hashed for every password: ykman's default (7.5 MiB, a few milliseconds of
/// SHA-256 per login), which fits the RFC 4880 coded form too.
pub const ITERATION_COUNT: u32 = 0x0078_0000;
/// PW1 of an OpenPGP card as it leaves the factory.
pub const FACTORY_PIN: &str = "123456";
/// Length of each salt written at issuance.
pub const SALT_LEN: usize = 8;
/// The longest salt accepted from a card (the spec's salts are 8 bytes).
const MAX_SALT_LEN: usize = 32;
/// The largest iteration count accepted from a card: a card must not make the host hash
/// for minutes (the spec's counts fit far below this).
pub const MAX_ITERATION_COUNT: u32 = 0x1000_0000;

const ALGORITHM_NONE: u8 = 0x00;
const ALGORITHM_ITERSALTED_S2K: u8 = 0x03;
const HASH_SHA256: u8 = 0x08;

/// Which of the card's three passwords a value is for: each has its own salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Password {
    /// PW1, the operator's PIN.
    User,
    /// The Reset Code (cardgate's PUK).
    ResetCode,
    /// PW3, the access manager's admin PIN.
    Admin,
}

/// What the card's KDF-DO says.
#[derive(Clone, PartialEq, Eq)]
pub enum Kdf {
    /// Passwords go to the card as typed.
    Off,
    /// Passwords go as iterated, salted SHA-256.
    IteratedSaltedSha256 {
        /// Bytes hashed.
        count: u32,
        /// Salt of PW1.
        user_salt: Vec<u8>,
        /// Salt of the Reset Code (PW1's when the card has none).
        reset_salt: Vec<u8>,
        /// Salt of PW3.
        admin_salt: Vec<u8>,
    },
}

impl std::fmt::Debug for Kdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kdf::Off => f.write_str("Kdf::Off"),
            Kdf::IteratedSaltedSha256 { count, .. } => f
                .debug_struct("Kdf::IteratedSaltedSha256")
                .field("count", count)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a KDF-DO could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// Not a TLV list cardgate can read.
    #[error("the KDF-DO is malformed ({0})")]
    Malformed(String),
    /// An algorithm or hash this host does not implement.
    #[error("the KDF-DO names algorithm {algorithm:#04x} with hash {hash:#04x}, which cardgate does not support")]
    Unsupported {
        /// Tag `81`.
        algorithm: u8,
        /// Tag `82`.
        hash: u8,
    },
    /// An iteration count beyond [`MAX_ITERATION_COUNT`] or a salt beyond 32 bytes.
    #[error("the KDF-DO asks for {0}, beyond what cardgate accepts")]
    OutOfRange(&'static str),
    /// The system random generator failed.
    #[error("no randomness for the KDF salts")]
    Random,
}

impl Kdf {
    /// Reads the value of DO `F9` (as GET DATA returns it; an empty value is "off").
    pub fn parse(value: &[u8]) -> Result<Kdf, KdfError> {
        if value.is_empty() {
            return Ok(Kdf::Off);
        }
        // The card may return the DO with or without its own tag.
        let items = tlv::parse_list(value).map_err(|e| KdfError::Malformed(e.to_string()))?;
        let items = match items.as_slice() {
            [only] if only.tag().to_bytes() == TAG_KDF => match only.value() {
                iso7816_tlv::ber::Value::Constructed(children) => children.clone(),
                iso7816_tlv::ber::Value::Primitive(bytes) => {
                    tlv::parse_list(bytes).map_err(|e| KdfError::Malformed(e.to_string()))?
                }
            },
            _ => items,
        };
        let field = |tag: u8| -> Option<Vec<u8>> {
            items
                .iter()
                .find_map(|t| match (t.tag().to_bytes(), t.value()) {
                    ([b], iso7816_tlv::ber::Value::Primitive(v)) if *b == tag => Some(v.clone()),
                    _ => None,
                })
        };
        let algorithm = match field(0x81).as_deref() {
            Some([a]) => *a,
            Some(_) => return Err(KdfError::Malformed("tag 81 is not one byte".into())),
            None => return Err(KdfError::Malformed("tag 81 is missing".into())),
        };
        if algorithm == ALGORITHM_NONE {
            return Ok(Kdf::Off);
        }
        let hash = match field(0x82).as_deref() {
            Some([h]) => *h,
            _ => 0,
        };
        if algorithm != ALGORITHM_ITERSALTED_S2K || hash != HASH_SHA256 {
            return Err(KdfError::Unsupported { algorithm, hash });
        }
        let count = match field(0x83).as_deref() {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => return Err(KdfError::Malformed("tag 83 is not four bytes".into())),
        };
        if count > MAX_ITERATION_COUNT {
            return Err(KdfError::OutOfRange("an iteration count"));
        }
        let user_salt =
            field(0x84).ok_or_else(|| KdfError::Malformed("tag 84 is missing".into()))?;
        let reset_salt = field(0x85).unwrap_or_else(|| user_salt.clone());
        let admin_salt = field(0x86).unwrap_or_else(|| user_salt.clone());
        if [&user_salt, &reset_salt, &admin_salt]
            .iter()
            .any(|s| s.len() > MAX_SALT_LEN)
        {
            return Err(KdfError::OutOfRange("a salt longer than 32 bytes"));
        }
        Ok(Kdf::IteratedSaltedSha256 {
            count,
            user_salt,
            reset_salt,
            admin_salt,
        })
    }

    /// A new KDF setting with fresh random salts, as issuance writes it.
    pub fn generate() -> Result<Kdf, KdfError> {
        let rng = SystemRandom::new();
        let salt = || {
            let mut s = vec![0u8; SALT_LEN];
            rng.fill(&mut s).map(|()| s).map_err(|_| KdfError::Random)
        };
        Ok(Kdf::IteratedSaltedSha256 {
            count: ITERATION_COUNT,
            user_salt: salt()?,
            reset_salt: salt()?,
            admin_salt: salt()?,
        })
    }

    /// Whether the passwords are hashed.
    pub fn is_on(&self) -> bool {
        matches!(self, Kdf::IteratedSaltedSha256 { .. })
    }

    /// The DO's value for PUT DATA `F9`, in the 110-byte layout GnuPG reads (it reads the
    /// DO by fixed offsets, and sends plain PINs to a card whose DO has another length), with
    /// the factory PINs' hashes as the initial values (`87`, `88`): a card that resets its
    /// passwords when the DO is written takes those.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Kdf::Off => tlv::encode_into(&mut out, &[0x81], &[ALGORITHM_NONE]),
            Kdf::IteratedSaltedSha256 {
                count,
                user_salt,
                reset_salt,
                admin_salt,
            } => {
                tlv::encode_into(&mut out, &[0x81], &[ALGORITHM_ITERSALTED_S2K]);
                tlv::encode_into(&mut out, &[0x82], &[HASH_SHA256]);
                tlv::encode_into(&mut out, &[0x83], &count.to_be_bytes());
                tlv::encode_into(&mut out, &[0x84], user_salt);
                tlv::encode_into(&mut out, &[0x85], reset_salt);
                tlv::encode_into(&mut out, &[0x86], admin_salt);
                tlv::encode_into(&mut out, &[0x87], &self.derive(Password::User, FACTORY_PIN));
                tlv::encode_into(
                    &mut out,
                    &[0x88],
                    &self.derive(Password::Admin, crate::secret::AdminPin::FACTORY),
                );
            }
        }
        out
    }

    /// What the card expects for `secret` as `password`: the text itself, or its hash.
    pub fn derive(&self, password: Password, secret: &str) -> Zeroizing<Vec<u8>> {
        match self {
            Kdf::Off => Zeroizing::new(secret.as_bytes().to_vec()),
            Kdf::IteratedSaltedSha256 {
                count,
                user_salt,
                reset_salt,
                admin_salt,
            } => {
                let salt = match password {
                    Password::User => user_salt,
                    Password::ResetCode => reset_salt,
                    Password::Admin => admin_salt,
                };
                iterated_salted_sha256(salt, secret.as_bytes(), *count)
            }
        }
    }
}

/// RFC 4880 § 3.7.1.3: hash `salt || secret` repeated until `count` bytes went in (all of it
/// at least once).
fn iterated_salted_sha256(salt: &[u8], secret: &[u8], count: u32) -> Zeroizing<Vec<u8>> {
    let mut unit = Zeroizing::new(Vec::with_capacity(salt.len() + secret.len()));
    unit.extend_from_slice(salt);
    unit.extend_from_slice(secret);
    let total = usize::try_from(count).unwrap_or(usize::MAX).max(unit.len());
    let mut ctx = Context::new(&SHA256);
    // Whole copies of the unit in one buffer, so the hash sees few large updates.
    let mut block = Zeroizing::new(Vec::with_capacity(unit.len() * 64));
    while block.len() + unit.len() <= unit.len() * 64 {
        block.extend_from_slice(&unit);
    }
    let mut left = total;
    while left >= block.len() {
        ctx.update(&block);
        left -= block.len();
    }
    ctx.update(&block[..left]);
    Zeroizing::new(ctx.finish().as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same hash computed the slow way, one byte at a time from the repeated unit.
    fn reference(salt: &[u8], secret: &[u8], count: usize) -> Vec<u8> {
        let unit: Vec<u8> = salt.iter().chain(secret).copied().collect();
        let total = count.max(unit.len());
        let bytes: Vec<u8> = unit.iter().copied().cycle().take(total).collect();
        ring::digest::digest(&SHA256, &bytes).as_ref().to_vec()
    }

    #[test]
    fn the_hash_is_rfc4880_iterated_and_salted() {
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        for count in [0usize, 1, 13, 14, 15, 1000, 65536, 100_003] {
            assert_eq!(
                iterated_salted_sha256(&salt, b"123456", count as u32).to_vec(),
                reference(&salt, b"123456", count),
                "count {count}"
            );
        }
    }

    /// GnuPG's test vectors (T3152): count 100000.
    #[test]
    fn gnupg_test_vectors() {
        let cases: [(&[u8], &str, &str); 2] = [
            (
                b"01234567",
                "123456",
                "773784A602B6C81E3F092F4D7D00E17CC822D88F7360FCF2D2EF2D9D901F44B6",
            ),
            (
                b"ABCDEFGH",
                "12345678",
                "2675D6164A0D4827D1D00C7EEA620D015C00030A1CAB38B4D0DD600B27DC9630",
            ),
        ];
        for (salt, pin, hash) in cases {
            let got: String = iterated_salted_sha256(salt, pin.as_bytes(), 100_000)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            assert_eq!(got, hash, "{pin}");
        }
    }

    #[test]
    fn the_do_round_trips_and_each_password_has_its_salt() {
        let kdf = Kdf::generate().unwrap();
        let encoded = kdf.encode();
        // GnuPG reads the DO by fixed offsets, and only in this length.
        assert_eq!(encoded.len(), 110);
        assert_eq!(encoded[42..44], [0x87, 0x20]);
        assert_eq!(encoded[76..78], [0x88, 0x20]);
        let parsed = Kdf::parse(&encoded).unwrap();
        assert_eq!(parsed, kdf);
        let user = kdf.derive(Password::User, "Tanuki42");
        let admin = kdf.derive(Password::Admin, "Tanuki42");
        assert_eq!(user.len(), 32);
        assert_ne!(user, admin);
        assert_eq!(&**Kdf::Off.derive(Password::User, "Tanuki42"), b"Tanuki42");
    }

    #[test]
    fn off_unsupported_and_hostile_dos_are_told_apart() {
        assert_eq!(Kdf::parse(&[]).unwrap(), Kdf::Off);
        assert_eq!(Kdf::parse(&[0x81, 0x01, 0x00]).unwrap(), Kdf::Off);
        assert_eq!(
            Kdf::parse(&[0xF9, 0x03, 0x81, 0x01, 0x00]).unwrap(),
            Kdf::Off
        );
        assert!(matches!(
            Kdf::parse(&[0x81, 0x01, 0x03, 0x82, 0x01, 0x0A]),
            Err(KdfError::Unsupported { .. })
        ));
        let mut huge = Vec::new();
        tlv::encode_into(&mut huge, &[0x81], &[3]);
        tlv::encode_into(&mut huge, &[0x82], &[8]);
        tlv::encode_into(&mut huge, &[0x83], &u32::MAX.to_be_bytes());
        tlv::encode_into(&mut huge, &[0x84], &[0; 8]);
        assert_eq!(
            Kdf::parse(&huge),
            Err(KdfError::OutOfRange("an iteration count"))
        );
        assert!(Kdf::parse(&[0x81, 0x05]).is_err());
        assert!(!format!("{:?}", Kdf::generate().unwrap()).contains("salt"));
    }
}
