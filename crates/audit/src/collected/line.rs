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

use crate::record::{Digest, Timestamp};

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
    /// The 64 bytes of `prev` (hex digits in a record; compared, not decoded).
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
    // Not checked for hex digit by digit here: the chain compares it with the previous
    // line's hash written in lower-case hex, which nothing else equals.
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

/// A seal record read without serde: only the exact bytes the writer writes for one (no
/// reader, card, operator or uid, a terminal name without escapes, canonical numbers and
/// lower-case hex). Any other spelling is `None`, and the caller parses the line whole.
/// Accepting only the canonical form is what makes this as strict as [`crate::Record::parse`]:
/// every byte of the line is one of the values the seal's MAC and the chain cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealLine<'a> {
    pub(crate) seq: u64,
    pub(crate) time: Timestamp,
    pub(crate) terminal: &'a str,
    pub(crate) epoch: u64,
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) head: Digest,
    pub(crate) mac: Digest,
    pub(crate) prev: Digest,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn lit(&mut self, text: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(text)?;
        Some(())
    }

    /// A u64 as serde_json writes it: digits, no sign, no leading zero.
    fn num(&mut self) -> Option<u64> {
        let len = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 20 || (len > 1 && self.0[0] == b'0') {
            return None;
        }
        let mut n = 0u64;
        for &d in &self.0[..len] {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.0 = &self.0[len..];
        Some(n)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }

    /// 64 lower-case hex digits.
    fn hex32(&mut self) -> Option<Digest> {
        let text = self.take(64)?;
        let mut out = [0u8; 32];
        let mut bad = false;
        for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let (h, l) = (pair[0], pair[1]);
            bad |= !is_lower_hex(h) || !is_lower_hex(l);
            *o = (nibble(h) << 4) | nibble(l);
        }
        (!bad).then_some(Digest(out))
    }

    /// A string's bytes up to its closing quote, when it has no escape and no control byte
    /// (then the bytes are the value).
    fn plain_string(&mut self) -> Option<&'a str> {
        let len = self.0.iter().position(|&b| b == b'"')?;
        let text = &self.0[..len];
        if text.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.0 = &self.0[len..];
        std::str::from_utf8(text).ok()
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// The value of a lower-case hex digit (`0`–`9` are 0x30–0x39, `a`–`f` 0x61–0x66).
fn nibble(b: u8) -> u8 {
    (b & 0x0f).wrapping_add((b >> 6) * 9)
}

/// Reads a seal record's line in place (see [`SealLine`]).
pub(crate) fn seal_line(line: &[u8]) -> Option<SealLine<'_>> {
    let mut c = Cursor(line);
    c.lit(SEQ_PREFIX)?;
    let seq = c.num()?;
    c.lit(TIME_KEY)?;
    let time = std::str::from_utf8(c.take(TIME_LEN)?).ok()?;
    let time = Timestamp::parse(time).ok()?;
    c.lit(b"\",\"terminal\":\"")?;
    let terminal = c.plain_string()?;
    c.lit(b"\",\"event\":{\"kind\":\"log_sealed\",\"epoch\":")?;
    let epoch = c.num()?;
    c.lit(b",\"first_seq\":")?;
    let first_seq = c.num()?;
    c.lit(b",\"last_seq\":")?;
    let last_seq = c.num()?;
    c.lit(b",\"head\":\"")?;
    let head = c.hex32()?;
    c.lit(b"\",\"mac\":\"")?;
    let mac = c.hex32()?;
    c.lit(b"\"},\"prev\":\"")?;
    let prev = c.hex32()?;
    c.lit(b"\"}")?;
    if !c.0.is_empty() {
        return None;
    }
    Some(SealLine {
        seq,
        time,
        terminal,
        epoch,
        first_seq,
        last_seq,
        head,
        mac,
        prev,
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
        // Upper-case hex is read, and never equals a hash the chain writes in lower case.
        assert_eq!(
            fields(upper.as_bytes(), &finder).unwrap().prev_hex,
            "AB".repeat(32).as_bytes()
        );
        let long = vec![b'x'; crate::record::MAX_LINE_LEN + 1];
        assert_eq!(fields(&long, &finder), Err(LineError::TooLong));
    }

    #[test]
    fn a_seal_read_in_place_is_the_seal_serde_reads_and_only_its_canonical_form() {
        use crate::record::Seal;
        let mut r = record("juki-01", None);
        r.reader = None;
        r.uid = None;
        r.event = Event::LogSealed(Seal {
            epoch: 7,
            first_seq: 10,
            last_seq: 41,
            head: Digest([0xab; 32]),
            mac: Digest([0x5c; 32]),
        });
        let line = r.to_line();
        let s = seal_line(&line).unwrap();
        assert_eq!((s.seq, s.epoch, s.first_seq, s.last_seq), (42, 7, 10, 41));
        assert_eq!(
            (s.head, s.mac, s.prev),
            (Digest([0xab; 32]), Digest([0x5c; 32]), r.prev)
        );
        assert_eq!((s.time, s.terminal), (r.time, "juki-01"));
        // Not the writer's spelling: not read here (the caller parses it whole and refuses it).
        let text = String::from_utf8(line.clone()).unwrap();
        for (from, to) in [
            ("\"epoch\":7", "\"epoch\":07"),
            ("\"epoch\":7", "\"epoch\": 7"),
            (&"ab".repeat(32), &"AB".repeat(32)),
            ("\"}", "\"} "),
            ("juki-01", "juki\\u002d01"),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_ne!(bad, text);
            assert_eq!(seal_line(bad.as_bytes()), None, "{bad}");
        }
        // A seal naming a reader is no seal the writer writes.
        let mut with_reader = r.clone();
        with_reader.reader = Some(Label::new("r").unwrap());
        assert_eq!(seal_line(&with_reader.to_line()), None);
        for cut in 1..line.len() {
            assert_eq!(seal_line(&line[..cut]), None);
        }
    }

    #[test]
    fn hex64_is_lower_hex() {
        let d = Digest::sha256(b"abc");
        assert_eq!(&hex64(&d)[..], d.to_string().as_bytes());
    }
}
