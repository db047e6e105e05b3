//! The PIN inside a request.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::Cell;
use std::fmt;
use zeroize::Zeroizing;

thread_local! {
    /// Set while [`crate::encode_request`] writes a line into its zeroizing buffer: the only
    /// time a PIN may be serialised. Anywhere else (`serde_json::to_string` on a request, a
    /// logger that serialises) would leave the PIN in an unwiped buffer.
    static ENCODING: Cell<bool> = const { Cell::new(false) };
}

/// Allows PINs to serialise on this thread until it drops (also when a serialiser panics).
pub(crate) struct EncodingPins(bool);

impl EncodingPins {
    pub(crate) fn allow() -> Self {
        EncodingPins(ENCODING.with(|e| e.replace(true)))
    }
}

impl Drop for EncodingPins {
    fn drop(&mut self) {
        let before = self.0;
        ENCODING.with(|e| e.set(before));
    }
}

/// A PIN in a login request: a zeroizing string, wiped when it drops.
/// `Debug` shows `REDACTED`; there is no `Display`. It serialises only inside
/// [`crate::encode_request`]; any other serialiser gets an error.
pub struct PinField(Zeroizing<String>);

impl PinField {
    /// Takes ownership of the PIN; it is wiped when this value drops.
    pub fn new(pin: String) -> Self {
        PinField(Zeroizing::new(pin))
    }

    /// Copies a PIN borrowed from the caller's own zeroizing buffer.
    pub fn copy_from(pin: &str) -> Self {
        PinField(Zeroizing::new(pin.to_owned()))
    }

    /// Reads the PIN. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The zeroizing string itself, for a caller that keeps the PIN longer (the buffer moves,
    /// it is not copied).
    pub fn into_zeroizing(self) -> Zeroizing<String> {
        self.0
    }

    /// Takes the PIN's `String` out without copying it, leaving this field empty; for handing
    /// it to another zeroizing type (`cardgate_card::SecretString::new`).
    pub fn take(&mut self) -> String {
        std::mem::take(&mut *self.0)
    }
}

impl fmt::Debug for PinField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// Constant time in the contents (the length is not secret: the card's policy bounds it).
impl PartialEq for PinField {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for PinField {}

impl Serialize for PinField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if ENCODING.with(Cell::get) {
            s.serialize_str(&self.0)
        } else {
            Err(serde::ser::Error::custom(
                "a PIN is serialised only by cardgate_protocol::encode_request",
            ))
        }
    }
}

impl<'de> Deserialize<'de> for PinField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(PinVisitor)
    }
}

/// Copies the PIN once, straight from the request buffer into the zeroizing string (no
/// intermediate `String` left to the allocator unwiped).
struct PinVisitor;

impl serde::de::Visitor<'_> for PinVisitor {
    type Value = PinField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a PIN as a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PinField, E> {
        Ok(PinField::copy_from(v))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<PinField, E> {
        Ok(PinField::new(v))
    }
}
