//! The typed values inside requests: serials, roles, revocation reasons, note kinds and the
//! manager-refusal reasons.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A text that is not one of a wire enum's strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    /// What was being parsed (e.g. "role").
    pub kind: &'static str,
    /// The text, cut to 64 characters.
    pub value: String,
}

/// Declares an enum whose values travel as fixed strings: serde, `as_str`, `ALL`, `FromStr`
/// and `Display` from one list, so the strings cannot drift apart.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The string on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::types::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::types::UnknownValue {
                        kind: $kind,
                        value: s.chars().take(64).collect(),
                    }),
                }
            }
        }
    };
}

pub(crate) use wire_enum;

wire_enum! {
    /// The role a card is issued for.
    pub enum Role ("role") {
        /// A terminal operator.
        Operator = "operator",
        /// The access manager (art. 5).
        Manager = "manager",
    }
}

wire_enum! {
    /// Why a card was revoked (art. 5.2, 5.4).
    pub enum RevocationReason ("revocation reason") {
        /// Lost.
        Lost = "lost",
        /// Stolen.
        Stolen = "stolen",
        /// Returned to the access manager.
        Returned = "returned",
        /// The holder was transferred out of the duty.
        Transferred = "transferred",
        /// Damaged.
        Damaged = "damaged",
        /// Anything else.
        Other = "other",
    }
}

wire_enum! {
    /// What a note records (art. 3, 4, 19).
    pub enum NoteKind ("note kind") {
        /// Someone entered the terminal room.
        RoomEntry = "room-entry",
        /// Media were taken in or out.
        Media = "media",
        /// Work on a resident's card.
        ResidentCard = "resident-card",
        /// Anything else.
        Other = "other",
    }
}

wire_enum! {
    /// Why `cardgatectl` refused to act on the access manager's card.
    pub enum ManagerRefusal ("manager refusal reason") {
        /// The certificate did not verify.
        CertificateRejected = "certificate_rejected",
        /// The card is revoked.
        CardRevoked = "card_revoked",
        /// The revocation list is too old to trust.
        RevocationListStale = "revocation_list_stale",
        /// A wrong PIN.
        WrongPin = "wrong_pin",
        /// The PIN is blocked.
        PinBlocked = "pin_blocked",
        /// The card failed its challenge.
        CardAuthenticationFailed = "card_authentication_failed",
        /// Not a manager card (or not one for this office).
        NotAuthorisedHere = "not_authorised_here",
        /// The card left the reader.
        CardRemoved = "card_removed",
        /// Anything else.
        Other = "other",
    }
}

/// A card serial: 8 bytes, on the wire 16 hex digits, written in capitals as cardgate-card's
/// `CardSerial` and the register write them, read in either case as the daemon always has.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(pub [u8; 8]);

/// A text that is not a card serial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("card serial {value:?} is not 16 hex digits")]
pub struct SerialError {
    /// The text, cut to 64 characters.
    pub value: String,
}

impl Serial {
    /// The 8 bytes.
    pub const fn bytes(self) -> [u8; 8] {
        self.0
    }
}

impl From<[u8; 8]> for Serial {
    fn from(bytes: [u8; 8]) -> Self {
        Serial(bytes)
    }
}

impl FromStr for Serial {
    type Err = SerialError;

    fn from_str(text: &str) -> Result<Self, SerialError> {
        let bad = || SerialError {
            value: text.chars().take(64).collect(),
        };
        let digits = text.as_bytes();
        if digits.len() != 16 {
            return Err(bad());
        }
        let mut out = [0u8; 8];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hi = hex_digit(pair[0]).ok_or_else(bad)?;
            let lo = hex_digit(pair[1]).ok_or_else(bad)?;
            *byte = (hi << 4) | lo;
        }
        Ok(Serial(out))
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Serial;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a card serial, 16 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Serial, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}
