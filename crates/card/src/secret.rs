//! PINs, PUKs and secret input: zeroized on drop, shown as `REDACTED`, never serialised.
//!
//! None of these types implements `Display`, `Clone`-to-plain-`String` or serde, so a secret
//! cannot reach a log line, an error message or an audit record by accident.

use std::fmt;
use zeroize::Zeroizing;

/// Every secret is 16 bytes on the wire: ASCII, right-padded with `FF`.
pub const SECRET_WIRE_LEN: usize = 16;

/// Text typed by a person that is meant to be a secret but has not been checked yet
/// (a PIN entered at a prompt, read from a socket or a pipe).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of the string; it is wiped when this value drops.
    pub fn new(s: String) -> Self {
        SecretString(Zeroizing::new(s))
    }

    /// Reads the secret. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The length in bytes, which is not secret.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString::new(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(REDACTED)")
    }
}

/// Why a string is not a well-formed operator PIN or PUK. The messages never contain the
/// secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFormatError {
    /// Too short.
    #[error("must be at least {min} characters (got {len})")]
    TooShort {
        /// The minimum.
        min: usize,
        /// The length given.
        len: usize,
    },
    /// Too long.
    #[error("must be at most {max} characters (got {len})")]
    TooLong {
        /// The maximum.
        max: usize,
        /// The length given.
        len: usize,
    },
    /// A character other than ASCII letters and digits.
    #[error("may contain only the letters A-Z, a-z and the digits 0-9")]
    BadCharacter,
    /// No letter.
    #[error("must contain at least one letter")]
    NoLetter,
    /// No digit.
    #[error("must contain at least one digit")]
    NoDigit,
}

/// Checks the contract's shared format: ASCII letters and digits only, within a length range.
fn check_alnum(s: &str, min: usize, max: usize) -> Result<(), SecretFormatError> {
    // Check characters before length, so that a non-ASCII character is reported as such
    // rather than as a length in bytes.
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SecretFormatError::BadCharacter);
    }
    let len = s.len();
    if len < min {
        return Err(SecretFormatError::TooShort { min, len });
    }
    if len > max {
        return Err(SecretFormatError::TooLong { max, len });
    }
    Ok(())
}

fn to_wire(s: &str) -> Zeroizing<[u8; SECRET_WIRE_LEN]> {
    let mut out = Zeroizing::new([0xFF; SECRET_WIRE_LEN]);
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(REDACTED)"))
            }
        }

        impl $name {
            /// The 16-byte wire form: ASCII, right-padded with `FF`.
            pub fn to_wire(&self) -> Zeroizing<[u8; SECRET_WIRE_LEN]> {
                to_wire(&self.0)
            }

            /// Reads the secret. Keep the borrow short and never log it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&SecretString> for $name {
            type Error = SecretFormatError;
            fn try_from(s: &SecretString) -> Result<Self, Self::Error> {
                $name::parse(s.expose())
            }
        }
    };
}

secret_type!(
    /// An operator PIN in the contract's format (reference `81`): 6–16 ASCII letters and
    /// digits, with at least one letter and one digit (art. 5.5). Holding a `Pin` proves the
    /// format only; the stronger rules for a *new* PIN are in [`crate::policy`].
    Pin
);

secret_type!(
    /// The access manager's unblocking code (reference `82`): 8–16 ASCII letters and digits.
    Puk
);

secret_type!(
    /// An OpenPGP card's admin PIN (PW3), kept by the access manager: 8–16 ASCII letters and
    /// digits, so the factory `12345678` can be typed as the current one. Only issuance and
    /// [`crate::openpgp::issue::factory_reset`] use it.
    AdminPin
);

impl AdminPin {
    /// The shortest admin PIN (the OpenPGP card's minimum for PW3).
    pub const MIN_LEN: usize = 8;
    /// The longest.
    pub const MAX_LEN: usize = 16;
    /// The admin PIN of an OpenPGP card as it leaves the factory.
    pub const FACTORY: &'static str = "12345678";

    /// Checks the format and keeps the admin PIN.
    pub fn parse(s: &str) -> Result<AdminPin, SecretFormatError> {
        check_alnum(s, AdminPin::MIN_LEN, AdminPin::MAX_LEN)?;
        Ok(AdminPin(Zeroizing::new(s.to_owned())))
    }
}

impl Pin {
    /// The shortest PIN.
    pub const MIN_LEN: usize = 6;
    /// The longest PIN.
    pub const MAX_LEN: usize = 16;

    /// Checks the format and keeps the PIN.
    pub fn parse(s: &str) -> Result<Pin, SecretFormatError> {
        check_pin_format(s)?;
        Ok(Pin(Zeroizing::new(s.to_owned())))
    }
}

/// The contract's PIN format check, for callers that hold the text in another secret type.
pub fn check_pin_format(s: &str) -> Result<(), SecretFormatError> {
    check_alnum(s, Pin::MIN_LEN, Pin::MAX_LEN)?;
    if !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(SecretFormatError::NoLetter);
    }
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        return Err(SecretFormatError::NoDigit);
    }
    Ok(())
}

impl Puk {
    /// The shortest PUK.
    pub const MIN_LEN: usize = 8;
    /// The longest PUK.
    pub const MAX_LEN: usize = 16;

    /// Checks the format and keeps the PUK.
    pub fn parse(s: &str) -> Result<Puk, SecretFormatError> {
        check_alnum(s, Puk::MIN_LEN, Puk::MAX_LEN)?;
        Ok(Puk(Zeroizing::new(s.to_owned())))
    }
}

/// Decodes a 16-byte wire secret back to its characters, for the card side. Returns `None`
/// when the padding is malformed (an `FF` followed by anything but `FF`, or a non-ASCII byte).
pub fn from_wire(wire: &[u8]) -> Option<Zeroizing<String>> {
    if wire.len() != SECRET_WIRE_LEN {
        return None;
    }
    let end = wire
        .iter()
        .position(|&b| b == 0xFF)
        .unwrap_or(SECRET_WIRE_LEN);
    if wire[end..].iter().any(|&b| b != 0xFF) || !wire[..end].is_ascii() {
        return None;
    }
    std::str::from_utf8(&wire[..end])
        .ok()
        .map(|s| Zeroizing::new(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let pin = Pin::parse("Tanuki42").unwrap();
        let puk = Puk::parse("Kitsune12345").unwrap();
        let raw = SecretString::from("Tanuki42");
        for shown in [format!("{pin:?}"), format!("{puk:?}"), format!("{raw:?}")] {
            assert!(shown.contains("REDACTED"), "{shown}");
            for secret in ["Tanuki42", "Kitsune12345"] {
                for c in secret.chars() {
                    // REDACTED and the type names share letters; check digits and the rest.
                    if c.is_ascii_digit() {
                        assert!(!shown.contains(c), "{shown} shows {c}");
                    }
                }
                assert!(!shown.contains(secret));
            }
        }
        let shown = format!("{:?}", Pin::parse("zz9zz9").unwrap());
        assert!(!shown.contains('z') && !shown.contains('9'), "{shown}");
    }

    #[test]
    fn wire_form_pads_with_ff() {
        let pin = Pin::parse("abc123").unwrap();
        let wire = pin.to_wire();
        assert_eq!(&wire[..6], b"abc123");
        assert!(wire[6..].iter().all(|&b| b == 0xFF));
        assert_eq!(from_wire(&wire[..]).unwrap().as_str(), "abc123");
        let mut bad = *wire;
        bad[10] = b'x';
        assert!(from_wire(&bad).is_none());
    }

    #[test]
    fn format_errors_are_specific() {
        assert_eq!(
            Pin::parse("ab12").unwrap_err(),
            SecretFormatError::TooShort { min: 6, len: 4 }
        );
        assert_eq!(
            Pin::parse("abcdefg").unwrap_err(),
            SecretFormatError::NoDigit
        );
        assert_eq!(
            Pin::parse("1234567").unwrap_err(),
            SecretFormatError::NoLetter
        );
        assert_eq!(
            Pin::parse("abc 123").unwrap_err(),
            SecretFormatError::BadCharacter
        );
        assert_eq!(
            Pin::parse("ａｂｃ１２３").unwrap_err(),
            SecretFormatError::BadCharacter
        );
        assert!(Pin::parse("a1b2c3d4e5f6g7h8").is_ok());
        assert!(Pin::parse("a1b2c3d4e5f6g7h8i").is_err());
        assert!(Puk::parse("1234567").is_err());
        assert!(Puk::parse("12345678").is_ok());
    }
}
