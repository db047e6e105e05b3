//! ISO/IEC 7816-4 status words, as one `Copy` enum whose variants carry their data.

use std::fmt;

/// A status word (SW1 SW2) returned by the card.
///
/// Conversion from `[u8; 2]` is total and lossless: every two-byte value maps to exactly one
/// variant and back ([`StatusWord::Other`] keeps any value the contract does not name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusWord {
    /// `9000`: success.
    Success,
    /// `61xx`: success, `xx` more bytes to fetch with GET RESPONSE (`00` means 256).
    BytesAvailable(u8),
    /// `63Cx`: verification failed, `x` tries left (`63C0`: now blocked).
    RemainingRetries(u8),
    /// `6700`: wrong length (Lc or Le).
    WrongLength,
    /// `6982`: security status not satisfied (PIN or PUK not verified).
    SecurityStatusNotSatisfied,
    /// `6983`: authentication method blocked.
    AuthMethodBlocked,
    /// `6985`: conditions of use not satisfied (no application selected).
    ConditionsNotSatisfied,
    /// `6A80`: incorrect data in the command.
    IncorrectData,
    /// `6A82`: application or file not found.
    NotFound,
    /// `6A86`: incorrect P1 or P2.
    IncorrectP1P2,
    /// `6A88`: referenced data not found.
    DataNotFound,
    /// `6Cxx`: wrong Le; `xx` is the exact length available.
    WrongLe(u8),
    /// `6D00`: instruction not supported.
    InsNotSupported,
    /// `6E00`: class not supported.
    ClaNotSupported,
    /// Any status word the operator-card contract does not name, kept as is.
    Other([u8; 2]),
}

impl StatusWord {
    /// The two bytes on the wire.
    pub const fn to_bytes(self) -> [u8; 2] {
        match self {
            StatusWord::Success => [0x90, 0x00],
            StatusWord::BytesAvailable(n) => [0x61, n],
            StatusWord::RemainingRetries(n) => [0x63, 0xC0 | (n & 0x0F)],
            StatusWord::WrongLength => [0x67, 0x00],
            StatusWord::SecurityStatusNotSatisfied => [0x69, 0x82],
            StatusWord::AuthMethodBlocked => [0x69, 0x83],
            StatusWord::ConditionsNotSatisfied => [0x69, 0x85],
            StatusWord::IncorrectData => [0x6A, 0x80],
            StatusWord::NotFound => [0x6A, 0x82],
            StatusWord::IncorrectP1P2 => [0x6A, 0x86],
            StatusWord::DataNotFound => [0x6A, 0x88],
            StatusWord::WrongLe(n) => [0x6C, n],
            StatusWord::InsNotSupported => [0x6D, 0x00],
            StatusWord::ClaNotSupported => [0x6E, 0x00],
            StatusWord::Other(sw) => sw,
        }
    }

    /// Reads a status word from its two bytes. Total: never fails.
    pub const fn from_bytes(sw: [u8; 2]) -> Self {
        match sw {
            [0x90, 0x00] => StatusWord::Success,
            [0x61, n] => StatusWord::BytesAvailable(n),
            [0x63, x] if x & 0xF0 == 0xC0 => StatusWord::RemainingRetries(x & 0x0F),
            [0x67, 0x00] => StatusWord::WrongLength,
            [0x69, 0x82] => StatusWord::SecurityStatusNotSatisfied,
            [0x69, 0x83] => StatusWord::AuthMethodBlocked,
            [0x69, 0x85] => StatusWord::ConditionsNotSatisfied,
            [0x6A, 0x80] => StatusWord::IncorrectData,
            [0x6A, 0x82] => StatusWord::NotFound,
            [0x6A, 0x86] => StatusWord::IncorrectP1P2,
            [0x6A, 0x88] => StatusWord::DataNotFound,
            [0x6C, n] => StatusWord::WrongLe(n),
            [0x6D, 0x00] => StatusWord::InsNotSupported,
            [0x6E, 0x00] => StatusWord::ClaNotSupported,
            other => StatusWord::Other(other),
        }
    }

    /// True for `9000`.
    pub const fn is_success(self) -> bool {
        matches!(self, StatusWord::Success)
    }

    /// The status word as a 16-bit number, e.g. `0x63C2`.
    pub const fn as_u16(self) -> u16 {
        let [a, b] = self.to_bytes();
        u16::from_be_bytes([a, b])
    }
}

impl From<[u8; 2]> for StatusWord {
    fn from(sw: [u8; 2]) -> Self {
        StatusWord::from_bytes(sw)
    }
}

impl From<StatusWord> for [u8; 2] {
    fn from(sw: StatusWord) -> Self {
        sw.to_bytes()
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bytes_round_trip(a in any::<u8>(), b in any::<u8>()) {
            prop_assert_eq!(StatusWord::from_bytes([a, b]).to_bytes(), [a, b]);
        }

        #[test]
        fn variant_round_trip(a in any::<u8>(), b in any::<u8>()) {
            let sw = StatusWord::from_bytes([a, b]);
            prop_assert_eq!(StatusWord::from_bytes(sw.to_bytes()), sw);
        }
    }

    #[test]
    fn named_values_decode_to_their_variants() {
        assert_eq!(
            StatusWord::from_bytes([0x63, 0xC2]),
            StatusWord::RemainingRetries(2)
        );
        assert_eq!(
            StatusWord::from_bytes([0x63, 0xC0]),
            StatusWord::RemainingRetries(0)
        );
        assert_eq!(
            StatusWord::from_bytes([0x61, 0x10]),
            StatusWord::BytesAvailable(0x10)
        );
        assert_eq!(
            StatusWord::from_bytes([0x6C, 0x40]),
            StatusWord::WrongLe(0x40)
        );
        assert_eq!(
            StatusWord::from_bytes([0x63, 0x00]),
            StatusWord::Other([0x63, 0x00])
        );
        assert_eq!(StatusWord::AuthMethodBlocked.to_string(), "6983");
    }
}
