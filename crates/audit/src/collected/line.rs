//! The fixed parts of a record line, read without parsing the JSON.
//!
//! The writer serialises a [`crate::Record`] with serde_json, fields in declaration order and no
//! blanks: `{"seq":N,"time":"<24 bytes>","terminal":"…",…,"event":{"kind":"<kind>",…},"prev":"<64
//! hex>"}`. So:
//!
//! * the line starts with `{"seq":` and the decimal number (no sign, no leading zero);
//! * `,"time":"`, the 24-byte RFC 3339 time and `"` follow at once;
//! * it ends with `,"prev":"`, 64 lower-case hex digits and `"}`;
//! * the event's kind is the string after the **first** `,"event":{"kind":"`. The fields before
//!   the event are the time, the terminal, the reader, the card and the operator (strings) and
//!   the uid (a number). Inside a JSON string serde_json writes every `"` as `\"` (and `\` as
//!   `\\`, control characters as `\n`, `\u00XX`), so a `"` byte right after a `,` is never
//!   inside a string: the first `,"event"` is the key of the event object, whatever a label
//!   holds. The test `the_event_key_cannot_hide_in_a_label` checks it against the serializer.
//!
//! A line whose fixed parts are not there is not a record ([`LineError`]). A line whose fixed
//! parts are there but whose middle is not canonical JSON is not caught here: its bytes are
//! chained, and under a valid seal they are the bytes the key holder wrote (see
//! `docs/audit.md`, "Collected logs").

use crate::record::Digest;

/// What is wrong with a line's fixed parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Longer than [`crate::record::MAX_LINE_LEN`].
    #[error("longer than the 16 KiB a record may be")]
    TooLong,
    /// No `{"seq":N` at the start.
    #[error("no sequence number at the start")]
    Seq,
    /// No `,"time":"…"` after the sequence number.
    #[error("no time after the sequence number")]
    Time,
    /// No `,"prev":"<64 hex>"}` at the end.
    #[error("no prev hash at the end")]
    Prev,
    /// No `,"event":{"kind":"…"`.
    #[error("no event kind")]
    Kind,
}

const SEQ_PREFIX: &[u8] = b"{\"seq\":";
const TIME_KEY: &[u8] = b",\"time\":\"";
const TIME_LEN: usize = 24;
const PREV_KEY: &[u8] = b",\"prev\":\"";
/// `,"prev":"` + 64 hex + `"}`.
const PREV_SUFFIX_LEN: usize = 9 + 64 + 2;
/// The key of the event object and its tag.
pub(crate) const KIND_KEY: &[u8] = b",\"event\":{\"kind\":\"";
/// Longest kind name read.
pub(crate) const MAX_KIND_LEN: usize = 48;

/// A record line's fixed parts, borrowed from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    /// The sequence number.
    pub seq: u64,
    /// The 24 bytes of the time (`YYYY-MM-DDThh:mm:ss.mmmZ`); byte order is time order.
    pub time: &'a [u8],
    /// The 64 hex digits of `prev`.
    pub prev_hex: &'a [u8],
    /// The event's kind (`card_inserted`, `log_sealed`, …).
    pub kind: &'a [u8],
}

impl Fields<'_> {
    /// Where the time and the kind are in `line` (the line these fields were read from).
    pub(crate) fn spans(&self, line: &[u8]) -> Spans {
        let base = line.as_ptr() as usize;
        let at = |s: &[u8]| {
            let start = (s.as_ptr() as usize).wrapping_sub(base);
            start..start + s.len()
        };
        Spans {
            seq: self.seq,
            time: at(self.time),
            kind: at(self.kind),
        }
    }
}

/// [`Fields`] as positions in their line, to be read again from it.
#[derive(Debug, Clone)]
pub(crate) struct Spans {
    pub(crate) seq: u64,
    pub(crate) time: std::ops::Range<usize>,
    pub(crate) kind: std::ops::Range<usize>,
}

/// A reusable searcher for the event key (memchr's memmem, built once per stream).
pub(crate) struct KindFinder(memchr::memmem::Finder<'static>);

impl KindFinder {
    pub(crate) fn new() -> Self {
        KindFinder(memchr::memmem::Finder::new(KIND_KEY))
    }
}

/// Reads the fixed parts of `line` (without its newline).
pub(crate) fn fields<'a>(line: &'a [u8], finder: &KindFinder) -> Result<Fields<'a>, LineError> {
    if line.len() > crate::record::MAX_LINE_LEN {
        return Err(LineError::TooLong);
    }
    let rest = line.strip_prefix(SEQ_PREFIX).ok_or(LineError::Seq)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || (digits > 1 && rest[0] == b'0') {
        return Err(LineError::Seq);
    }
    let mut seq = 0u64;
    for &d in &rest[..digits] {
        seq = seq
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(d - b'0')))
            .ok_or(LineError::Seq)?;
    }
    let rest = rest[digits..]
        .strip_prefix(TIME_KEY)
        .ok_or(LineError::Time)?;
    let time = rest.get(..TIME_LEN).ok_or(LineError::Time)?;
    if rest.get(TIME_LEN) != Some(&b'"') {
        return Err(LineError::Time);
    }
    let body_start = line.len() - rest.len() + TIME_LEN + 1;
    if line.len() < body_start + PREV_SUFFIX_LEN {
        return Err(LineError::Prev);
    }
    let suffix = &line[line.len() - PREV_SUFFIX_LEN..];
    if !suffix.starts_with(PREV_KEY) || !suffix.ends_with(b"\"}") {
        return Err(LineError::Prev);
    }
    let prev_hex = &suffix[PREV_KEY.len()..PREV_KEY.len() + 64];
    if !prev_hex
        .iter()
        .all(|&b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(LineError::Prev);
    }
    let body = &line[body_start..line.len() - PREV_SUFFIX_LEN];
    let at = finder.0.find(body).ok_or(LineError::Kind)?;
    let after = &body[at + KIND_KEY.len()..];
    let len = after
        .iter()
        .take(MAX_KIND_LEN + 1)
        .take_while(|&&b| b.is_ascii_lowercase() || b == b'_')
        .count();
    if len == 0 || len > MAX_KIND_LEN || after.get(len) != Some(&b'"') {
        return Err(LineError::Kind);
    }
    Ok(Fields {
        seq,
        time,
        prev_hex,
        kind: &after[..len],
    })
}

/// A digest as 64 lower-case hex digits, without allocating.
pub(crate) fn hex64(d: &Digest) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in d.0.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::{Entry, Event, Label, Record, Timestamp};

    fn record(terminal: &str, operator: Option<&str>) -> Record {
        let e = Entry::new(Event::CardInserted);
        Record {
            seq: 42,
            time: Timestamp::parse("2026-11-02T08:30:00.123Z").unwrap(),
            terminal: Label::new(terminal).unwrap(),
            reader: e.reader,
            card: None,
            operator: operator.map(|o| Label::new(o).unwrap()),
            uid: Some(1000),
            event: e.event,
            prev: Digest([0xab; 32]),
        }
    }

    #[test]
    fn the_fixed_parts_of_a_real_line_are_read() {
        let line = record("juki-01", None).to_line();
        let f = fields(&line, &KindFinder::new()).unwrap();
        assert_eq!(f.seq, 42);
        assert_eq!(f.time, b"2026-11-02T08:30:00.123Z");
        assert_eq!(f.prev_hex, "ab".repeat(32).as_bytes());
        assert_eq!(f.kind, b"card_inserted");
    }

    #[test]
    fn the_event_key_cannot_hide_in_a_label() {
        // A label holding the key's very bytes: serde_json escapes its quotes, so the first
        // `,"event":{"kind":"` of the line is still the real one.
        let trap = r#"x","event":{"kind":"genesis","y":""#;
        let line = record(trap, Some(trap)).to_line();
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(
            text.contains(r#"\",\"event\":{\"kind\":\"genesis"#),
            "{text}"
        );
        let f = fields(&line, &KindFinder::new()).unwrap();
        assert_eq!(f.kind, b"card_inserted");
        assert_eq!(
            Record::parse(&line).unwrap().event.kind_name(),
            "card_inserted"
        );
    }

    #[test]
    fn lines_without_the_fixed_parts_are_refused_never_a_panic() {
        let line = record("juki-01", None).to_line();
        let finder = KindFinder::new();
        for cut in 1..line.len() {
            assert!(fields(&line[..cut], &finder).is_err(), "{cut}");
            assert!(fields(&line[cut..], &finder).is_err(), "{cut}");
        }
        for bad in [
            &b"{\"seq\":01,\"time\":\"2026-11-02T08:30:00.123Z\""[..],
            b"{\"seq\":-1",
            b"{\"seq\":99999999999999999999999",
            b"",
        ] {
            assert!(fields(bad, &finder).is_err());
        }
        let upper = String::from_utf8(line.clone())
            .unwrap()
            .replace(&"ab".repeat(32), &"AB".repeat(32));
        assert_eq!(fields(upper.as_bytes(), &finder), Err(LineError::Prev));
        let long = vec![b'x'; crate::record::MAX_LINE_LEN + 1];
        assert_eq!(fields(&long, &finder), Err(LineError::TooLong));
    }

    #[test]
    fn hex64_is_lower_hex() {
        let d = Digest::sha256(b"abc");
        assert_eq!(&hex64(&d)[..], d.to_string().as_bytes());
    }
}
