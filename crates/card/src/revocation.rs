//! The signed revocation list (art. 5.4): which cards must be refused, on every terminal.
//!
//! # File format (`cardgate revocation list`, format 1)
//!
//! All integers big-endian, times in seconds since the Unix epoch (UTC).
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `CGRL` |
//! | 4 | 1 | format, `01` |
//! | 5 | 8 | issuer key ID (as in certificates) |
//! | 13 | 8 | list version, monotonic |
//! | 21 | 8 | issued at |
//! | 29 | 8 | next update |
//! | 37 | 4 | entry count *n* |
//! | 41 | 17·*n* | entries: serial (8), revoked at (8), reason (1); serials strictly ascending |
//! | end−64 | 64 | Ed25519 signature by the issuer over every byte before it |
//!
//! Loading checks the size first, then the signature, and only then reads the entries, so a
//! forged file costs one hash and nothing else.

use crate::cert::CardSerial;
use crate::issuer::{IssuerKey, IssuerPublicKey};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

const MAGIC: &[u8; 4] = b"CGRL";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 41;
const ENTRY_LEN: usize = 17;
const SIGNATURE_LEN: usize = 64;
/// The most entries a list may hold (about 68 MB of file).
pub const MAX_ENTRIES: usize = 4_000_000;
/// The largest file accepted.
pub const MAX_FILE_LEN: usize = HEADER_LEN + ENTRY_LEN * MAX_ENTRIES + SIGNATURE_LEN;

/// Why a card was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// Lost (art. 5.4).
    Lost,
    /// Stolen (art. 5.4).
    Stolen,
    /// Returned to the access manager (art. 5.2).
    Returned,
    /// The holder was transferred out of the duty (art. 5.2).
    Transferred,
    /// Damaged.
    Damaged,
    /// Anything else.
    Other,
}

impl RevocationReason {
    /// All reasons, in code order.
    pub const ALL: [RevocationReason; 6] = [
        RevocationReason::Lost,
        RevocationReason::Stolen,
        RevocationReason::Returned,
        RevocationReason::Transferred,
        RevocationReason::Damaged,
        RevocationReason::Other,
    ];

    /// The byte in the file.
    pub fn to_byte(self) -> u8 {
        match self {
            RevocationReason::Lost => 1,
            RevocationReason::Stolen => 2,
            RevocationReason::Returned => 3,
            RevocationReason::Transferred => 4,
            RevocationReason::Damaged => 5,
            RevocationReason::Other => 6,
        }
    }

    /// From the byte in the file.
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.to_byte() == b)
    }

    /// The word used on command lines and in records.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Lost => "lost",
            RevocationReason::Stolen => "stolen",
            RevocationReason::Returned => "returned",
            RevocationReason::Transferred => "transferred",
            RevocationReason::Damaged => "damaged",
            RevocationReason::Other => "other",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RevocationReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                "reason must be one of lost, stolen, returned, transferred, damaged, other"
                    .to_owned()
            })
    }
}

/// One revoked card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// When it was revoked (Unix seconds).
    pub revoked_at: i64,
    /// Why.
    pub reason: RevocationReason,
}

/// Why a revocation list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// Shorter than a header and a signature.
    #[error("revocation list is truncated ({len} bytes)")]
    Truncated {
        /// The length received.
        len: usize,
    },
    /// Larger than [`MAX_FILE_LEN`].
    #[error("revocation list of {len} bytes exceeds the {MAX_FILE_LEN}-byte limit")]
    TooLarge {
        /// The length received.
        len: usize,
    },
    /// Not a cardgate revocation list.
    #[error("not a cardgate revocation list (bad magic)")]
    BadMagic,
    /// A format this build does not know.
    #[error("unsupported revocation list format {0}")]
    UnsupportedFormat(u8),
    /// The entry count does not match the file size.
    #[error("revocation list length does not match its entry count")]
    LengthMismatch,
    /// Signed by some other key.
    #[error("revocation list is signed by an unknown issuer key")]
    UnknownIssuer,
    /// The signature does not verify.
    #[error("revocation list signature does not verify")]
    BadSignature,
    /// Serials out of order or repeated.
    #[error("revocation list entry {index} is out of order or repeated")]
    NotSorted {
        /// Entry index.
        index: usize,
    },
    /// An unknown reason code.
    #[error("revocation list entry {index} has unknown reason code {code}")]
    BadReason {
        /// Entry index.
        index: usize,
        /// The byte found.
        code: u8,
    },
    /// Next update before issued-at.
    #[error("revocation list next-update is before its issue time")]
    InvertedDates,
    /// Older than the list already accepted.
    #[error("revocation list version {offered} is older than the accepted version {accepted} (rollback refused)")]
    Rollback {
        /// The version offered.
        offered: u64,
        /// The version already in force.
        accepted: u64,
    },
    /// Same version as the accepted list, but different content.
    #[error(
        "revocation list version {version} differs from the accepted list of the same version"
    )]
    VersionReused {
        /// The version.
        version: u64,
    },
    /// Too many entries to build (when signing).
    #[error("a revocation list holds at most {MAX_ENTRIES} entries")]
    TooManyEntries,
}

/// A hasher for card serials. Serials come only from signed lists, so no one can choose them
/// to collide; a multiply-shift of the 8 bytes is enough and much cheaper than SipHash for a
/// million entries.
#[derive(Default)]
pub struct SerialHasher(u64);

impl Hasher for SerialHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            self.0 ^= self.0 >> 29;
        }
    }
}

type SerialMap = HashMap<CardSerial, Revocation, BuildHasherDefault<SerialHasher>>;

/// A verified revocation list, with O(1) lookup.
#[derive(Clone)]
pub struct RevocationList {
    version: u64,
    issued_at: i64,
    next_update: i64,
    digest: [u8; 32],
    entries: SerialMap,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("version", &self.version)
            .field("issued_at", &self.issued_at)
            .field("next_update", &self.next_update)
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

impl RevocationList {
    /// Parses and verifies a list signed by `issuer`.
    pub fn verify(bytes: &[u8], issuer: &IssuerPublicKey) -> Result<Self, RevocationError> {
        let len = bytes.len();
        if len > MAX_FILE_LEN {
            return Err(RevocationError::TooLarge { len });
        }
        if len < HEADER_LEN + SIGNATURE_LEN {
            return Err(RevocationError::Truncated { len });
        }
        if &bytes[..4] != MAGIC {
            return Err(RevocationError::BadMagic);
        }
        if bytes[4] != FORMAT {
            return Err(RevocationError::UnsupportedFormat(bytes[4]));
        }
        let count = u32::from_be_bytes([bytes[37], bytes[38], bytes[39], bytes[40]]) as usize;
        if count > MAX_ENTRIES || len != HEADER_LEN + ENTRY_LEN * count + SIGNATURE_LEN {
            return Err(RevocationError::LengthMismatch);
        }
        if bytes[5..13] != issuer.key_id() {
            return Err(RevocationError::UnknownIssuer);
        }
        let (signed, signature) = bytes.split_at(len - SIGNATURE_LEN);
        if !issuer.verify(signed, signature) {
            return Err(RevocationError::BadSignature);
        }
        let version = be_u64(&bytes[13..]);
        let issued_at = be_u64(&bytes[21..]) as i64;
        let next_update = be_u64(&bytes[29..]) as i64;
        if next_update < issued_at {
            return Err(RevocationError::InvertedDates);
        }
        let mut entries = SerialMap::with_capacity_and_hasher(count, Default::default());
        let mut previous: Option<[u8; 8]> = None;
        for (index, e) in signed[HEADER_LEN..].chunks_exact(ENTRY_LEN).enumerate() {
            let mut serial = [0u8; 8];
            serial.copy_from_slice(&e[..8]);
            if previous.is_some_and(|p| p >= serial) {
                return Err(RevocationError::NotSorted { index });
            }
            previous = Some(serial);
            let reason = RevocationReason::from_byte(e[16])
                .ok_or(RevocationError::BadReason { index, code: e[16] })?;
            entries.insert(
                CardSerial(serial),
                Revocation {
                    revoked_at: be_u64(&e[8..]) as i64,
                    reason,
                },
            );
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        Ok(RevocationList {
            version,
            issued_at,
            next_update,
            digest,
            entries,
        })
    }

    /// Is this card revoked?
    pub fn lookup(&self, serial: &CardSerial) -> Option<Revocation> {
        self.entries.get(serial).copied()
    }

    /// The list's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was issued (Unix seconds).
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// When the next list is due (Unix seconds).
    pub fn next_update(&self) -> i64 {
        self.next_update
    }

    /// Past its next-update time?
    pub fn is_stale(&self, now_unix: i64) -> bool {
        now_unix > self.next_update
    }

    /// Number of revoked cards.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no card is revoked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// SHA-256 of the file, to tell two lists of one version apart.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Every entry, sorted by serial (for building the next version).
    pub fn entries(&self) -> Vec<(CardSerial, Revocation)> {
        let mut v: Vec<_> = self.entries.iter().map(|(s, r)| (*s, *r)).collect();
        v.sort_by_key(|(s, _)| *s);
        v
    }
}

/// Builds and signs a list.
#[derive(Debug, Clone, Default)]
pub struct RevocationListBuilder {
    /// Version number; must grow with every list issued.
    pub version: u64,
    /// Issue time (Unix seconds).
    pub issued_at: i64,
    /// When the next list is due (Unix seconds).
    pub next_update: i64,
    entries: std::collections::BTreeMap<CardSerial, Revocation>,
}

impl RevocationListBuilder {
    /// A new, empty list.
    pub fn new(version: u64, issued_at: i64, next_update: i64) -> Self {
        RevocationListBuilder {
            version,
            issued_at,
            next_update,
            entries: Default::default(),
        }
    }

    /// Adds (or replaces) one entry.
    pub fn revoke(&mut self, serial: CardSerial, revocation: Revocation) -> &mut Self {
        self.entries.insert(serial, revocation);
        self
    }

    /// Encodes and signs the list.
    pub fn sign(&self, issuer: &IssuerKey) -> Result<Vec<u8>, RevocationError> {
        if self.entries.len() > MAX_ENTRIES {
            return Err(RevocationError::TooManyEntries);
        }
        if self.next_update < self.issued_at {
            return Err(RevocationError::InvertedDates);
        }
        let mut out =
            Vec::with_capacity(HEADER_LEN + ENTRY_LEN * self.entries.len() + SIGNATURE_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&issuer.public_key().key_id());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.next_update.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for (serial, r) in &self.entries {
            out.extend_from_slice(&serial.0);
            out.extend_from_slice(&r.revoked_at.to_be_bytes());
            out.push(r.reason.to_byte());
        }
        let signature = issuer.sign(&out);
        out.extend_from_slice(&signature);
        Ok(out)
    }
}

/// Remembers the newest list accepted, so that an older one is never taken again (rollback).
#[derive(Debug, Clone, Default)]
pub struct RevocationTracker {
    accepted: Option<(u64, [u8; 32])>,
}

impl RevocationTracker {
    /// A tracker that has accepted nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker resuming from a version (and file digest) recorded earlier.
    pub fn resume(version: u64, digest: [u8; 32]) -> Self {
        RevocationTracker {
            accepted: Some((version, digest)),
        }
    }

    /// The version in force.
    pub fn accepted_version(&self) -> Option<u64> {
        self.accepted.map(|(v, _)| v)
    }

    /// Verifies a list and accepts it if it is not older than the one in force.
    /// Re-loading the very same file is accepted; another file with the same version is not.
    pub fn accept(
        &mut self,
        bytes: &[u8],
        issuer: &IssuerPublicKey,
    ) -> Result<RevocationList, RevocationError> {
        let list = RevocationList::verify(bytes, issuer)?;
        if let Some((accepted, digest)) = self.accepted {
            if list.version < accepted {
                return Err(RevocationError::Rollback {
                    offered: list.version,
                    accepted,
                });
            }
            if list.version == accepted && list.digest != digest {
                return Err(RevocationError::VersionReused { version: accepted });
            }
        }
        self.accepted = Some((list.version, list.digest));
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(issuer: &IssuerKey, version: u64, serials: &[u8]) -> Vec<u8> {
        let mut b = RevocationListBuilder::new(version, 1_700_000_000, 1_700_086_400);
        for &s in serials {
            b.revoke(
                CardSerial([0, 0, 0, 0, 0, 0, 0, s]),
                Revocation {
                    revoked_at: 1_700_000_000,
                    reason: RevocationReason::Lost,
                },
            );
        }
        b.sign(issuer).unwrap()
    }

    #[test]
    fn sign_verify_lookup() {
        let issuer = IssuerKey::generate().unwrap();
        let bytes = list(&issuer, 3, &[9, 2, 5]);
        let l = RevocationList::verify(&bytes, &issuer.public_key()).unwrap();
        assert_eq!(l.version(), 3);
        assert_eq!(l.len(), 3);
        assert!(l.lookup(&CardSerial([0, 0, 0, 0, 0, 0, 0, 5])).is_some());
        assert!(l.lookup(&CardSerial([0, 0, 0, 0, 0, 0, 0, 6])).is_none());
        assert!(!l.is_stale(1_700_086_400));
        assert!(l.is_stale(1_700_086_401));
    }

    #[test]
    fn refusals() {
        let issuer = IssuerKey::generate().unwrap();
        let other = IssuerKey::generate().unwrap();
        let pk = issuer.public_key();
        let bytes = list(&issuer, 3, &[1, 2]);
        assert_eq!(
            RevocationList::verify(&list(&other, 3, &[1]), &pk).unwrap_err(),
            RevocationError::UnknownIssuer
        );
        let mut tampered = bytes.clone();
        tampered[50] ^= 1;
        assert_eq!(
            RevocationList::verify(&tampered, &pk).unwrap_err(),
            RevocationError::BadSignature
        );
        assert!(matches!(
            RevocationList::verify(&bytes[..bytes.len() - 1], &pk).unwrap_err(),
            RevocationError::LengthMismatch
        ));
        let mut tracker = RevocationTracker::new();
        tracker.accept(&bytes, &pk).unwrap();
        tracker.accept(&bytes, &pk).unwrap();
        assert_eq!(
            tracker.accept(&list(&issuer, 2, &[]), &pk).unwrap_err(),
            RevocationError::Rollback {
                offered: 2,
                accepted: 3
            }
        );
        assert_eq!(
            tracker.accept(&list(&issuer, 3, &[7]), &pk).unwrap_err(),
            RevocationError::VersionReused { version: 3 }
        );
        tracker.accept(&list(&issuer, 4, &[7]), &pk).unwrap();
        assert_eq!(tracker.accepted_version(), Some(4));
    }

    proptest! {
        #[test]
        fn verify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let issuer = IssuerKey::from_pkcs8(&[]).is_err();
            prop_assert!(issuer);
            let pk = IssuerPublicKey::from_bytes([7; 32]);
            let _ = RevocationList::verify(&bytes, &pk);
        }
    }
}
