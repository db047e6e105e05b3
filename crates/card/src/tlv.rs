//! BER-TLV on top of `iso7816-tlv`: parsing with a size cap and typed errors, and a minimal
//! (DER-style) encoder so that what we sign is exactly what we send.

use iso7816_tlv::ber::{Tlv, Value};

/// The largest TLV input we parse at all. Every object of the contract fits in one short
/// response (256 bytes); the cap leaves room but stops unbounded work on hostile input.
pub const MAX_TLV_INPUT: usize = 1024;

/// Why bytes are not the TLV we expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// Over [`MAX_TLV_INPUT`].
    #[error("TLV input of {len} bytes exceeds the {MAX_TLV_INPUT}-byte limit")]
    TooLong {
        /// The length received.
        len: usize,
    },
    /// Not BER-TLV at all (truncated, bad length, reserved tag, …).
    #[error("malformed BER-TLV ({0})")]
    Malformed(&'static str),
    /// Bytes left over after the object.
    #[error("{0} unexpected bytes after the TLV object")]
    TrailingBytes(usize),
    /// A different tag from the one required at this place.
    #[error("expected tag {expected}, found {found}")]
    UnexpectedTag {
        /// The tag required, in hex.
        expected: String,
        /// The tag present, in hex.
        found: String,
    },
    /// A constructed object where a primitive one is needed, or the reverse.
    #[error("tag {0} has the wrong form (primitive/constructed)")]
    WrongForm(String),
    /// The value has the wrong length.
    #[error("tag {tag} holds {len} bytes, expected {expected}")]
    WrongLength {
        /// The tag, in hex.
        tag: String,
        /// The length present.
        len: usize,
        /// What the contract requires.
        expected: &'static str,
    },
    /// A different number of child objects than required.
    #[error("tag {tag} holds {count} objects, expected {expected}")]
    WrongChildCount {
        /// The tag, in hex.
        tag: String,
        /// Found.
        count: usize,
        /// Required.
        expected: usize,
    },
    /// The input is valid BER but not in the minimal encoding we require.
    #[error("TLV is not minimally encoded")]
    NotCanonical,
}

fn describe(e: &iso7816_tlv::TlvError) -> &'static str {
    use iso7816_tlv::TlvError as E;
    match e {
        E::InvalidInput => "invalid input",
        E::TagIsRFU => "reserved tag",
        E::ParseIntError => "bad number",
        E::TruncatedInput => "truncated",
        E::Inconsistant => "inconsistent length",
        E::InvalidLength => "invalid length",
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Parses exactly one BER-TLV object filling `bytes`, and requires its outer tag.
pub fn parse_exact(bytes: &[u8], tag: &[u8]) -> Result<Tlv, TlvError> {
    if bytes.len() > MAX_TLV_INPUT {
        return Err(TlvError::TooLong { len: bytes.len() });
    }
    let (tlv, rest) = Tlv::parse(bytes);
    let tlv = tlv.map_err(|e| TlvError::Malformed(describe(&e)))?;
    if !rest.is_empty() {
        return Err(TlvError::TrailingBytes(rest.len()));
    }
    expect_tag(&tlv, tag)?;
    Ok(tlv)
}

/// The most objects [`parse_list`] reads from one input.
const MAX_LIST_ITEMS: usize = 64;

/// Parses a sequence of BER-TLV objects filling `bytes` (a constructed DO's value as some
/// cards return it, without the outer tag).
pub fn parse_list(bytes: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    if bytes.len() > MAX_TLV_INPUT {
        return Err(TlvError::TooLong { len: bytes.len() });
    }
    let mut items = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if items.len() == MAX_LIST_ITEMS {
            return Err(TlvError::TrailingBytes(rest.len()));
        }
        let (tlv, after) = Tlv::parse(rest);
        items.push(tlv.map_err(|e| TlvError::Malformed(describe(&e)))?);
        rest = after;
    }
    Ok(items)
}

/// Fails unless the object has this tag.
pub fn expect_tag(tlv: &Tlv, tag: &[u8]) -> Result<(), TlvError> {
    if tlv.tag().to_bytes() == tag {
        Ok(())
    } else {
        Err(TlvError::UnexpectedTag {
            expected: hex(tag),
            found: hex(tlv.tag().to_bytes()),
        })
    }
}

/// The children of a constructed object, which must number `count`.
pub fn children(tlv: &Tlv, count: usize) -> Result<&[Tlv], TlvError> {
    match tlv.value() {
        Value::Constructed(items) if items.len() == count => Ok(items),
        Value::Constructed(items) => Err(TlvError::WrongChildCount {
            tag: hex(tlv.tag().to_bytes()),
            count: items.len(),
            expected: count,
        }),
        Value::Primitive(_) => Err(TlvError::WrongForm(hex(tlv.tag().to_bytes()))),
    }
}

/// The value of a primitive object with this tag.
pub fn primitive<'a>(tlv: &'a Tlv, tag: &[u8]) -> Result<&'a [u8], TlvError> {
    expect_tag(tlv, tag)?;
    match tlv.value() {
        Value::Primitive(v) => Ok(v),
        Value::Constructed(_) => Err(TlvError::WrongForm(hex(tag))),
    }
}

/// A primitive value of an exact length.
pub fn fixed<const N: usize>(tlv: &Tlv, tag: &[u8]) -> Result<[u8; N], TlvError> {
    let v = primitive(tlv, tag)?;
    v.try_into().map_err(|_| TlvError::WrongLength {
        tag: hex(tag),
        len: v.len(),
        expected: match N {
            1 => "1",
            8 => "8",
            64 => "64",
            65 => "65",
            _ => "a fixed length",
        },
    })
}

/// Appends one object in minimal encoding: tag, definite length (1, 2 or 3 bytes), value.
pub fn encode_into(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        // Every object here is far below 64 KiB; larger values are a programming error that
        // the callers' own caps exclude.
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(value);
}

/// One object in minimal encoding.
pub fn encode(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + 3 + value.len());
    encode_into(&mut out, tag, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minimal_lengths() {
        assert_eq!(encode(&[0x5A], &[1, 2]), vec![0x5A, 2, 1, 2]);
        assert_eq!(&encode(&[0x53], &[0; 127])[..2], &[0x53, 0x7F]);
        assert_eq!(&encode(&[0x53], &[0; 128])[..3], &[0x53, 0x81, 0x80]);
        assert_eq!(&encode(&[0x53], &[0; 300])[..4], &[0x53, 0x82, 0x01, 0x2C]);
    }

    #[test]
    fn parse_checks_tag_and_trailing() {
        let bytes = encode(&[0x5A], &[1, 2, 3]);
        assert!(parse_exact(&bytes, &[0x5A]).is_ok());
        assert!(matches!(
            parse_exact(&bytes, &[0x5B]),
            Err(TlvError::UnexpectedTag { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            parse_exact(&longer, &[0x5A]),
            Err(TlvError::TrailingBytes(1))
        );
        assert!(parse_exact(&bytes[..3], &[0x5A]).is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_exact(&bytes, &[0x7F, 0x21]);
        }
    }
}
