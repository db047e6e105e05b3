//! One audit record: a JSON object on one line, and the closed set of event kinds.
//!
//! No field has a secret type and no reason is free text: reasons are closed enums, and the
//! only free text is what the access manager types into a hand-written note (art. 3, 4, 19).
//! A PIN, PUK or key therefore has nowhere to go. (`cardgate_card::Pin` and friends do not
//! implement `Serialize` either.)

use std::fmt;

use cardgate_card::{CardSerial, RevocationReason, Role};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{FieldError, ParseError};

/// Longest line accepted, in bytes (without the newline).
pub const MAX_LINE_LEN: usize = 16 * 1024;
/// Longest label (terminal, reader, operator ID, names).
pub const MAX_LABEL_LEN: usize = 128;
/// Longest note text.
pub const MAX_TEXT_LEN: usize = 4096;
/// Format version written into the genesis record.
pub const FORMAT_VERSION: u32 = 1;

/// A point in time, UTC, to the millisecond. Written as `2026-11-25T22:53:55.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(self) -> i64 {
        self.0
    }

    /// As a `time` value (UTC).
    pub fn to_datetime(self) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).ok()
    }

    /// From a `time` value.
    pub fn from_datetime(t: time::OffsetDateTime) -> Self {
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Parses `YYYY-MM-DDThh:mm:ss.mmmZ` (years 0000–9999), strictly.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let b = text.as_bytes();
        if b.len() != 24 {
            return Err(FieldError::BadTime);
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, FieldError> {
            b[range].iter().try_fold(0i64, |acc, &c| {
                if c.is_ascii_digit() {
                    Ok(acc * 10 + i64::from(c - b'0'))
                } else {
                    Err(FieldError::BadTime)
                }
            })
        };
        let separators = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ];
        if separators.iter().any(|&(i, c)| b[i] != c) {
            return Err(FieldError::BadTime);
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second, milli) =
            (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
        if !(1..=12).contains(&month) || day < 1 || hour > 23 || minute > 59 || second > 59 {
            return Err(FieldError::BadTime);
        }
        let days = days_from_civil(year, month, day);
        // Rejects 31 April and 29 February of common years.
        if civil_from_days(days) != (year, month, day) {
            return Err(FieldError::BadTime);
        }
        Ok(Timestamp(
            days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli,
        ))
    }

    /// The RFC 3339 text, or `None` outside years 0000–9999.
    fn rfc3339(self) -> Option<[u8; 24]> {
        let days = self.0.div_euclid(86_400_000);
        let ms = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, ms / 3_600_000);
        put(14, 2, ms / 60_000 % 60);
        put(17, 2, ms / 1000 % 60);
        put(20, 3, ms % 1000);
        Some(out)
    }

    /// Days since the Unix epoch (UTC), for daily rotation.
    pub fn utc_day(self) -> i64 {
        self.0.div_euclid(86_400_000)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc3339() {
            Some(s) => f.write_str(std::str::from_utf8(&s).map_err(|_| fmt::Error)?),
            None => write!(f, "@{}ms", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self
            .rfc3339()
            .ok_or_else(|| serde::ser::Error::custom("time out of range"))?;
        s.serialize_str(std::str::from_utf8(&t).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(d)?;
        Timestamp::parse(text).map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 or HMAC-SHA256 value, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// SHA-256 of `bytes` (RustCrypto `sha2`: cheaper per call than ring on short lines).
    pub fn sha256(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Digest(sha2::Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

fn decode_lower_hex<const N: usize>(text: &str) -> Result<[u8; N], FieldError> {
    if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(FieldError::BadHex);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| FieldError::BadHex)?;
    Ok(out)
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(d)?;
        decode_lower_hex(text)
            .map(Digest)
            .map_err(serde::de::Error::custom)
    }
}

/// The random 128-bit identity of one log, fixed by its genesis record and bound into every seal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LogId(pub [u8; 16]);

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for LogId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for LogId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(d)?;
        decode_lower_hex(text)
            .map(LogId)
            .map_err(serde::de::Error::custom)
    }
}

fn check_text(text: &str, max: usize, allow_newlines: bool) -> Result<(), FieldError> {
    if text.is_empty() {
        return Err(FieldError::Empty);
    }
    if text.len() > max {
        return Err(FieldError::TooLong { max });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t')))
    {
        return Err(FieldError::ControlCharacter);
    }
    Ok(())
}

/// A short name: terminal, reader, operator ID, person. 1–128 bytes, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Checks and wraps.
    pub fn new(text: impl Into<String>) -> Result<Self, FieldError> {
        let text = text.into();
        check_text(&text, MAX_LABEL_LEN, false)?;
        Ok(Label(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A label from a constant this crate knows to be valid.
    pub(crate) fn from_static(text: &'static str) -> Self {
        Label(text.to_owned())
    }
}

/// A short, always-valid audit label from outside text (operator IDs come from cards, reader
/// names from PC/SC): control characters become `?`, at most 64 characters and
/// [`MAX_LABEL_LEN`] bytes are kept (cut at a character, never inside one), and empty text is
/// `-`.
pub fn label(text: &str) -> Label {
    let mut clean = String::new();
    for c in text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(64)
    {
        if clean.len() + c.len_utf8() > MAX_LABEL_LEN {
            break;
        }
        clean.push(c);
    }
    if clean.is_empty() {
        return Label::from_static("-");
    }
    Label::new(clean).unwrap_or_else(|_| Label::from_static("-"))
}

impl TryFrom<String> for Label {
    type Error = FieldError;
    fn try_from(text: String) -> Result<Self, FieldError> {
        Label::new(text)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Free text of a hand-written note: 1–4096 bytes, no control characters but newline and tab.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// Checks and wraps.
    pub fn new(text: impl Into<String>) -> Result<Self, FieldError> {
        let text = text.into();
        check_text(&text, MAX_TEXT_LEN, true)?;
        Ok(Text(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = FieldError;
    fn try_from(text: String) -> Result<Self, FieldError> {
        Text::new(text)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

mod serial_opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<CardSerial>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(serial) => s.serialize_str(&serial.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CardSerial>, D::Error> {
        let text = <&str>::deserialize(d)?;
        CardSerial::from_hex(text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(FieldError::BadHex))
    }
}

mod reason_serde {
    use super::*;

    pub fn serialize<S: Serializer>(v: &RevocationReason, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RevocationReason, D::Error> {
        let text = <&str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod role_serde {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Role, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        match <&str>::deserialize(d)? {
            "operator" => Ok(Role::Operator),
            "manager" => Ok(Role::AccessManager),
            _ => Err(serde::de::Error::custom("role must be operator or manager")),
        }
    }
}

/// Why a card's certificate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertRejection {
    /// The certificate does not parse.
    Malformed,
    /// The issuer's signature is wrong.
    BadSignature,
    /// Signed by a key this system does not know ("unknown card").
    UnknownIssuer,
    /// Past its validity.
    Expired,
    /// Not yet valid.
    NotYetValid,
    /// The card's serial does not match its certificate.
    SerialMismatch,
    /// Anything else.
    Other,
}

/// Which PIN rule (art. 5.5) a new PIN broke. Never the PIN itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PinRule {
    /// Fewer than six characters.
    TooShort,
    /// Longer than the card allows.
    TooLong,
    /// No letter.
    NoLetter,
    /// No digit.
    NoDigit,
    /// A character outside the allowed set.
    BadCharacter,
    /// Same as the old PIN.
    SameAsOld,
    // Recorded as `bad_character` before each rule named its own (issue 12).
    /// Contains the operator ID.
    ContainsOperatorId,
    /// A repeated character or a keyboard, alphabet or number run.
    RepeatOrRun,
    /// On the list of commonly used passwords.
    Blocklisted,
    /// A rule this version does not name.
    Other,
}

/// Why card authentication (challenge signature) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthFailure {
    /// The signature does not verify with the certificate's key.
    BadSignature,
    /// The card answered with an error status.
    CardError,
    /// The card did not answer in time.
    Timeout,
    /// Anything else.
    Other,
}

/// Why a login was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenyReason {
    /// Certificate rejected.
    CertificateRejected,
    /// The card is on the revocation list.
    CardRevoked,
    /// The revocation list is stale (fail closed).
    RevocationListStale,
    /// Wrong PIN.
    WrongPin,
    /// PIN blocked.
    PinBlocked,
    /// Card authentication failed.
    CardAuthenticationFailed,
    /// The operator may not use this terminal.
    NotAuthorisedHere,
    /// The audit log could not record the login (fail closed).
    AuditUnavailable,
    /// The card was pulled during login.
    CardRemoved,
    /// Anything else.
    Other,
    // The reasons below were recorded as one of the above before each refusal named its own
    // (issue 12): `outside_business_hours`, `wrong_user` and `other_card` were
    // `not_authorised_here`; `card_returned` was `card_revoked`; `malformed_pin` was
    // `wrong_pin` (although no try was spent); `no_card` and `reader_unavailable` were
    // `card_removed`; `revocation_list_unavailable` was `revocation_list_stale`;
    // `not_operator_card`, `register_unavailable` and `card_error` were `other`.
    /// Outside business hours (`[business_hours]`): refused before the card was asked.
    OutsideBusinessHours,
    /// The card is lent to another person than the user asking (art. 5.3).
    WrongUser,
    /// The user's session is locked and another card than the one that opened it was used.
    OtherCard,
    /// The card was returned to the access manager (art. 5.2).
    CardReturned,
    /// The PIN was not a PIN the card could take (too short, a bad character): no try spent.
    MalformedPin,
    /// No card in the reader.
    NoCard,
    /// The reader (or pcscd) was not available.
    ReaderUnavailable,
    /// No valid revocation list is in force (missing, unreadable or refused), fail closed.
    RevocationListUnavailable,
    /// Not an operator card (another application, or a blank card).
    NotOperatorCard,
    /// The card register could not be read (fail closed).
    RegisterUnavailable,
    /// The card did not answer as the contract says.
    CardError,
}

/// Why a session was locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LockReason {
    /// The card was pulled (art. 6.2).
    CardRemoved,
    /// Idle too long.
    Idle,
    /// The operator asked.
    Requested,
    /// Anything else.
    Other,
    /// The smart-card service (pcscd) went away: whether the card is still in its reader
    /// cannot be known until it is back, so the session is locked (fail closed).
    ReaderServiceLost,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// Logged out.
    Logout,
    /// The card was pulled and the session closed.
    CardRemoved,
    /// Timed out.
    Timeout,
    /// The daemon or machine shut down.
    Shutdown,
    /// The card was revoked while in use.
    Revoked,
    /// Anything else.
    Other,
    /// The session could not be locked, so it was ended instead (art. 6.2: nothing stays
    /// usable without the card).
    LockFailed,
    /// A lock was asked for, but logind said the session has no screen locker (a text
    /// console, a `login` on a pty, or of type `unspecified`): nothing would have held it, so
    /// it was ended instead.
    NoLocker,
    /// A graphical session was asked to lock, but logind's `LockedHint` was not set in time
    /// (no locker obeys `Lock`, or it failed): it was ended instead.
    LockNotConfirmed,
}

/// What kind of session logind says it is (its `Type`), as the daemon read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionType {
    /// A text console, or a `login` on a pty: no screen locker.
    Tty,
    /// An X11 session.
    X11,
    /// A Wayland session.
    Wayland,
    /// A Mir session.
    Mir,
    /// logind was not told (a `systemd-run -p PAMName=…` session, cron, …).
    Unspecified,
    /// A type this daemon does not know.
    Other,
}

impl SessionType {
    /// From logind's `Type` property (`tty`, `x11`, …).
    pub fn from_logind(text: &str) -> Self {
        match text {
            "tty" => SessionType::Tty,
            "x11" => SessionType::X11,
            "wayland" => SessionType::Wayland,
            "mir" => SessionType::Mir,
            "unspecified" => SessionType::Unspecified,
            _ => SessionType::Other,
        }
    }

    /// A graphical session, whose screen locker may obey logind's `Lock`.
    pub fn is_graphical(self) -> bool {
        matches!(
            self,
            SessionType::X11 | SessionType::Wayland | SessionType::Mir
        )
    }
}

/// What logind reported of a session after the daemon ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogindState {
    /// The session is closing (its processes are being stopped).
    Closing,
    /// logind knows no such session any more.
    Absent,
}

/// Why the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// Normal shutdown.
    Shutdown,
    /// A signal.
    Signal,
    /// A fatal error.
    Error,
}

/// Which paper register a hand-written note replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Server-room entry (art. 3: date, name, work, time, escort).
    RoomEntry,
    /// Media register (art. 4).
    Media,
    /// Resident-card register (art. 19).
    ResidentCard,
    /// Anything else.
    Other,
}

impl NoteKind {
    /// The command-line word: `room-entry`, `media`, `resident-card`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::RoomEntry => "room-entry",
            NoteKind::Media => "media",
            NoteKind::ResidentCard => "resident-card",
            NoteKind::Other => "other",
        }
    }
}

impl std::str::FromStr for NoteKind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "room-entry" => Ok(NoteKind::RoomEntry),
            "media" => Ok(NoteKind::Media),
            "resident-card" => Ok(NoteKind::ResidentCard),
            "other" => Ok(NoteKind::Other),
            _ => Err(FieldError::Empty),
        }
    }
}

/// A seal (art. 7 evidence): HMAC-SHA256 with the epoch key over the log ID, the epoch, the range
/// of records it closes and the chain head (the hash of the record just before the seal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// Epoch number; seals go 0, 1, 2, … with no gaps.
    pub epoch: u64,
    /// First record this seal closes (the record after the previous seal).
    pub first_seq: u64,
    /// Last record it closes (the record just before this seal).
    pub last_seq: u64,
    /// SHA-256 of record `last_seq`'s line.
    pub head: Digest,
    /// The HMAC.
    pub mac: Digest,
}

/// What happened. Serialized with a `kind` tag; the kind names the result too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The first record of a log.
    Genesis {
        /// The log's identity.
        log_id: LogId,
        /// Format version.
        format: u32,
    },
    /// A card was inserted into the reader.
    CardInserted,
    /// The card was pulled.
    CardRemoved,
    /// The certificate was rejected.
    CertificateRejected {
        /// Why.
        reason: CertRejection,
    },
    /// A card on the revocation list was presented (art. 5.4).
    RevokedCardPresented {
        /// Why it was revoked.
        #[serde(with = "reason_serde")]
        reason: RevocationReason,
    },
    /// A new PIN was refused by the policy (art. 5.5).
    PinRefusedByPolicy {
        /// Which rule.
        rule: PinRule,
    },
    /// A PIN was checked by the card.
    PinVerified {
        /// Right or wrong.
        correct: bool,
        /// Tries left after this one, when the card said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tries_left: Option<u8>,
    },
    /// The PIN is blocked.
    PinBlocked,
    /// Card authentication (challenge signature) passed.
    CardAuthPassed,
    /// Card authentication failed.
    CardAuthFailed {
        /// Why.
        reason: AuthFailure,
    },
    /// A login was granted: a session starts on this terminal.
    LoginGranted {
        /// The certificate's role.
        #[serde(with = "role_serde")]
        role: Role,
    },
    /// A login was denied.
    LoginDenied {
        /// Why.
        reason: DenyReason,
    },
    /// The session was locked.
    SessionLocked {
        /// Why.
        reason: LockReason,
        /// The session's type, as logind reported it after the lock (absent in the records
        /// of daemons that did not read it back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_type: Option<SessionType>,
        /// `true`: logind's `LockedHint` was read back set, the screen locker confirmed the
        /// lock (absent in the records of daemons that did not read it back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locked_hint: Option<bool>,
    },
    /// The session was unlocked with the card.
    SessionUnlocked,
    /// The session ended.
    SessionEnded {
        /// Why.
        reason: EndReason,
        /// The session's type, when logind still reported it after the end.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_type: Option<SessionType>,
        /// What logind reported after the daemon ended the session (closing, or no such
        /// session): absent when the daemon did not end it (a logout) or did not read it back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logind_state: Option<LogindState>,
    },
    /// The card holder changed the PIN.
    PinChanged,
    /// The PIN was unblocked with the PUK.
    PinUnblocked {
        /// Who did it, when it was not the holder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Label>,
    },
    /// A card was lent to the operator in `operator` (art. 5.1).
    CardIssued {
        /// The access manager who lent it.
        by: Label,
        /// The role written into the certificate.
        #[serde(with = "role_serde")]
        role: Role,
    },
    /// A card was returned (art. 5.2).
    CardReturned {
        /// Who took it back.
        by: Label,
    },
    /// A card was revoked (art. 5.4).
    CardRevoked {
        /// Who revoked it.
        by: Label,
        /// Why.
        #[serde(with = "reason_serde")]
        reason: RevocationReason,
    },
    /// A revocation list was loaded.
    RevocationListLoaded {
        /// Its version.
        version: u64,
        /// How many cards it lists.
        entries: u64,
    },
    /// The daemon started.
    DaemonStarted {
        /// Its version.
        version: Label,
    },
    /// The daemon stopped.
    DaemonStopped {
        /// Why.
        reason: StopReason,
        /// Requests still being served when the shutdown grace period ran out: the daemon
        /// stopped without their answers (and records written after this one fail). Absent
        /// when every request in flight was finished first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unfinished: Option<u32>,
    },
    /// A seal closing the records since the previous one.
    LogSealed(Seal),
    /// Someone verified the log.
    LogVerified {
        /// The result.
        intact: bool,
        /// The last record checked.
        last_seq: u64,
        /// Who.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Label>,
    },
    /// A torn last line (crash mid-write) was moved to a quarantine file.
    TornTailQuarantined {
        /// The quarantine file's name, in the log directory.
        file: Label,
        /// How many bytes.
        bytes: u64,
        /// Their SHA-256.
        sha256: Digest,
    },
    /// A record of work done by hand (art. 3, 4, 19).
    Note {
        /// Which register.
        note: NoteKind,
        /// What was done.
        text: Text,
        /// Who did it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        who: Option<Label>,
        /// The escort of a visitor (art. 3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escort: Option<Label>,
        /// Who wrote the note: the writer's uid and user name (`uid 1001 (yamada)`). Absent
        /// in notes written before notes were attributed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Label>,
    },
    /// The card refused a PUK (`cardgatectl card unblock` or `card issue`): someone holds a
    /// card and guesses at its PUK, or the access manager mistyped it.
    PukRejected {
        /// Who presented it.
        by: Label,
        /// Tries left after this one (0: the PUK is now blocked and the card must be
        /// replaced).
        tries_left: u8,
    },
    /// A PUK was presented to a card whose PUK was already blocked (the card did not check it).
    PukBlocked {
        /// Who presented it.
        by: Label,
    },
    /// `cardgatectl card issue|unblock` refused to act: the access manager's card (in the
    /// entry's reader) did not authenticate as the access manager's.
    ManagerRefused {
        /// Who ran the command.
        by: Label,
        /// Why: certificate_rejected, card_revoked, revocation_list_stale, wrong_pin,
        /// pin_blocked, card_authentication_failed, not_authorised_here (not a manager card),
        /// card_removed, other.
        reason: DenyReason,
        /// Tries left after a wrong PIN.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tries_left: Option<u8>,
    },
    /// A session could not be locked (logind refused, `loginctl` failed or hung). The daemon
    /// ends the session instead, and records that too.
    SessionLockFailed {
        /// Why the lock was asked for.
        reason: LockReason,
        /// What went wrong, as the session action reported it.
        error: Label,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A session could not be ended. The daemon keeps trying; the record of the end that
    /// finally works follows.
    SessionEndFailed {
        /// Why the end was asked for.
        reason: EndReason,
        /// What went wrong, as the session action reported it.
        error: Label,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A locked session could not be unlocked after the card and PIN were accepted: it stays
    /// locked.
    SessionUnlockFailed {
        /// What went wrong, as the session action reported it.
        error: Label,
        /// How many attempts were made.
        attempts: u32,
    },
    /// Refusals from one local user that repeated a refusal already recorded (same terminal,
    /// card and reason within the window), or came beyond the per-user budget, were counted
    /// rather than each written: the count is this record (finding: one user filling the
    /// disk, or framing a colleague, with probes).
    DenialsSuppressed {
        /// The user the held-back requests were for (the record's `uid` made them).
        user: Label,
        /// How many refusal records were not written.
        count: u64,
        /// The first of them (the window's start).
        since: Timestamp,
    },
    /// The revocation list in force is past its next update and `stale = "warn"` let the
    /// login go on.
    RevocationListStale {
        /// The list's version.
        version: u64,
        /// Its next update (Unix seconds).
        next_update: i64,
    },
    /// The smart-card service (pcscd) went away (`SCARD_E_NO_SERVICE`, stopped, or crashed):
    /// no card presence can be known until it is back. The daemon locks every open session
    /// (their `session_locked` records follow, reason `reader_service_lost`); this is not a
    /// card removal.
    ReaderServiceLost,
    /// The smart-card service is back. Sessions stay locked until their card and PIN unlock
    /// them; a card no longer in its reader is recorded as `card_removed` after this.
    ReaderServiceBack,
    /// Nothing was written for `[audit] heartbeat_minutes`: the daemon is alive and its
    /// log goes on (sealed at once). What lets a collector tell an idle terminal from one
    /// whose records stopped arriving (issue 13).
    Heartbeat,
}

/// Whether an event is a success, a failure or neither; used by the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Something was allowed or went right.
    Success,
    /// Something was refused or went wrong.
    Failure,
    /// Neither.
    Info,
}

impl Event {
    /// The `kind` tag.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Event::Genesis { .. } => "genesis",
            Event::CardInserted => "card_inserted",
            Event::CardRemoved => "card_removed",
            Event::CertificateRejected { .. } => "certificate_rejected",
            Event::RevokedCardPresented { .. } => "revoked_card_presented",
            Event::PinRefusedByPolicy { .. } => "pin_refused_by_policy",
            Event::PinVerified { .. } => "pin_verified",
            Event::PinBlocked => "pin_blocked",
            Event::CardAuthPassed => "card_auth_passed",
            Event::CardAuthFailed { .. } => "card_auth_failed",
            Event::LoginGranted { .. } => "login_granted",
            Event::LoginDenied { .. } => "login_denied",
            Event::SessionLocked { .. } => "session_locked",
            Event::SessionUnlocked => "session_unlocked",
            Event::SessionEnded { .. } => "session_ended",
            Event::PinChanged => "pin_changed",
            Event::PinUnblocked { .. } => "pin_unblocked",
            Event::CardIssued { .. } => "card_issued",
            Event::CardReturned { .. } => "card_returned",
            Event::CardRevoked { .. } => "card_revoked",
            Event::RevocationListLoaded { .. } => "revocation_list_loaded",
            Event::DaemonStarted { .. } => "daemon_started",
            Event::DaemonStopped { .. } => "daemon_stopped",
            Event::LogSealed(_) => "log_sealed",
            Event::LogVerified { .. } => "log_verified",
            Event::TornTailQuarantined { .. } => "torn_tail_quarantined",
            Event::Note { .. } => "note",
            Event::SessionLockFailed { .. } => "session_lock_failed",
            Event::SessionEndFailed { .. } => "session_end_failed",
            Event::SessionUnlockFailed { .. } => "session_unlock_failed",
            Event::DenialsSuppressed { .. } => "denials_suppressed",
            Event::RevocationListStale { .. } => "revocation_list_stale",
            Event::PukRejected { .. } => "puk_rejected",
            Event::PukBlocked { .. } => "puk_blocked",
            Event::ManagerRefused { .. } => "manager_refused",
            Event::ReaderServiceLost => "reader_service_lost",
            Event::ReaderServiceBack => "reader_service_back",
            Event::Heartbeat => "heartbeat",
        }
    }

    /// Success, failure or neither.
    pub fn outcome(&self) -> Outcome {
        match self {
            Event::CertificateRejected { .. }
            | Event::RevokedCardPresented { .. }
            | Event::PinRefusedByPolicy { .. }
            | Event::PinBlocked
            | Event::CardAuthFailed { .. }
            | Event::LoginDenied { .. }
            | Event::TornTailQuarantined { .. }
            | Event::SessionLockFailed { .. }
            | Event::SessionEndFailed { .. }
            | Event::SessionUnlockFailed { .. }
            | Event::DenialsSuppressed { .. }
            | Event::RevocationListStale { .. }
            | Event::PukRejected { .. }
            | Event::PukBlocked { .. }
            | Event::ManagerRefused { .. }
            | Event::ReaderServiceLost => Outcome::Failure,
            Event::PinVerified { correct, .. } => {
                if *correct {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            }
            Event::LogVerified { intact, .. } => {
                if *intact {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            }
            Event::CardAuthPassed
            | Event::LoginGranted { .. }
            | Event::SessionUnlocked
            | Event::PinChanged
            | Event::PinUnblocked { .. } => Outcome::Success,
            _ => Outcome::Info,
        }
    }
}

/// What a caller hands to the writer: the event and who/where. The writer adds the sequence
/// number, the time, the terminal and the chain hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The terminal, when not the writer's own (a daemon serving several terminals).
    pub terminal: Option<Label>,
    /// The reader, when a card was involved.
    pub reader: Option<Label>,
    /// The card.
    pub card: Option<CardSerial>,
    /// The operator ID from the card's certificate.
    pub operator: Option<Label>,
    /// The local user (uid, from the socket's peer credentials) whose request this record
    /// answers, when a request caused it.
    pub uid: Option<u32>,
    /// What happened.
    pub event: Event,
}

impl Entry {
    /// An entry with no reader, card or operator.
    pub fn new(event: Event) -> Self {
        Entry {
            terminal: None,
            reader: None,
            card: None,
            operator: None,
            uid: None,
            event,
        }
    }

    /// Sets the requesting uid.
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Sets the terminal (instead of the writer's own).
    pub fn terminal(mut self, terminal: Label) -> Self {
        self.terminal = Some(terminal);
        self
    }

    /// Sets the reader.
    pub fn reader(mut self, reader: Label) -> Self {
        self.reader = Some(reader);
        self
    }

    /// Sets the card.
    pub fn card(mut self, card: CardSerial) -> Self {
        self.card = Some(card);
        self
    }

    /// Sets the operator.
    pub fn operator(mut self, operator: Label) -> Self {
        self.operator = Some(operator);
        self
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number, from 0 (the genesis record), without gaps across files.
    pub seq: u64,
    /// When (UTC, never earlier than the record before).
    pub time: Timestamp,
    /// The terminal that wrote it.
    pub terminal: Label,
    /// The reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<Label>,
    /// The card.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serial_opt")]
    pub card: Option<CardSerial>,
    /// The operator ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Label>,
    /// The local user whose request caused this record (from the socket's peer credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// What happened.
    pub event: Event,
    /// SHA-256 of the previous record's line (without its newline); zeros for the genesis.
    pub prev: Digest,
}

impl Record {
    /// The line, without the newline.
    pub fn to_line(&self) -> Vec<u8> {
        // Serializing these types cannot fail: every field is a plain value or a checked string.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses one line (without its newline): length capped, strict, canonical.
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        if line.len() > MAX_LINE_LEN {
            return Err(ParseError::TooLong {
                len: line.len(),
                max: MAX_LINE_LEN,
            });
        }
        let record: Record = serde_json::from_slice(line).map_err(ParseError::Json)?;
        if record.to_line() != line {
            return Err(ParseError::NotCanonical);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );

    #[test]
    fn timestamps_match_the_time_crate_across_years_0000_to_9999() {
        let min = -62_167_219_200_000i64; // 0000-01-01
        let max = 253_402_300_799_999i64; // 9999-12-31T23:59:59.999
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        let mut samples = vec![min, max, 0, -1, 951_782_400_000, 951_868_799_999];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(min + (x % (max - min) as u64) as i64);
        }
        for ms in samples {
            let t = Timestamp(ms);
            let ours = t.to_string();
            let theirs = t.to_datetime().unwrap().format(TIME_FORMAT).unwrap();
            assert_eq!(ours, theirs, "{ms}");
            assert_eq!(Timestamp::parse(&ours).unwrap(), t);
        }
        assert!(Timestamp(max + 1).rfc3339().is_none());
        assert!(Timestamp(min - 1).rfc3339().is_none());
    }

    #[test]
    fn notes_from_before_attribution_still_parse_and_new_ones_name_the_writer() {
        let old = br#"{"seq":3,"time":"2026-06-01T00:00:00.000Z","terminal":"juki-01","event":{"kind":"note","note":"room_entry","text":"UPS battery replaced","who":"Sato"},"prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
        let record = Record::parse(old).unwrap();
        assert!(matches!(&record.event, Event::Note { by: None, .. }));
        assert_eq!(
            record.to_line(),
            old.to_vec(),
            "the old line re-serialises as it was"
        );
        let mut new = record.clone();
        if let Event::Note { by, .. } = &mut new.event {
            *by = Some(Label::new("uid 1001 (yamada)").unwrap());
        }
        let line = new.to_line();
        assert!(String::from_utf8_lossy(&line).contains(r#""by":"uid 1001 (yamada)""#));
        assert_eq!(Record::parse(&line).unwrap(), new);
        let puk = Record {
            event: Event::PukRejected {
                by: Label::new("uid 0 (root)").unwrap(),
                tries_left: 9,
            },
            ..record
        };
        let line = puk.to_line();
        assert!(String::from_utf8_lossy(&line)
            .contains(r#""event":{"kind":"puk_rejected","by":"uid 0 (root)","tries_left":9}"#));
        assert_eq!(Record::parse(&line).unwrap(), puk);
        assert_eq!(puk.event.outcome(), Outcome::Failure);
    }

    #[test]
    fn impossible_or_sloppy_times_are_refused() {
        for bad in [
            "2026-02-29T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-00-01T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:60:00.000Z",
            "2026-01-01T00:00:60.000Z",
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01 00:00:00.000Z",
            "2026-01-01T00:00:00.00Z",
            "2026-01-01T00:00:00.0000Z",
            "+026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00,000Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        assert!(Timestamp::parse("2024-02-29T23:59:59.999Z").is_ok());
    }

    // `engine::label` kept 64 characters and then fell back to "-" when they were more than
    // the 128 bytes a label holds: 43 or more kana or kanji lost the whole name.
    #[test]
    fn label_keeps_what_fits_of_outside_text() {
        assert_eq!(label("op-0042").as_str(), "op-0042");
        assert_eq!(label("a\u{7}b\nc").as_str(), "a?b?c");
        assert_eq!(label("").as_str(), "-");
        assert_eq!(label(&"x".repeat(100)).as_str(), "x".repeat(64));
        let long = "読".repeat(50);
        let kept = label(&long);
        assert_eq!(kept.as_str(), "読".repeat(42));
        assert!(kept.as_str().len() <= MAX_LABEL_LEN);
    }
}
