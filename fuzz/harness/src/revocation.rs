//! The signed revocation list.
//!
//! Input: one mode byte, then a list file.
//! * Mode bit 0 clear: the file is checked as it is, under the test issuer and under an
//!   issuer no input can know (which must refuse it).
//! * Mode bit 0 set ("structure mode"): the harness makes the file well signed first, so the
//!   fuzzer reaches the entry checks: it sets the issuer key ID (and, unless bit 1 is set,
//!   the magic, format and entry count to fit the length) and appends the test issuer's
//!   signature.
//!
//! Invariants checked on a list that verifies: entry count and lookups agree with the file;
//! serials absent from the file are absent from the list; the header fields read back; the
//! digest is the file's SHA-256; rebuilding the list with the builder and the same key gives
//! the very same bytes (Ed25519 is deterministic); the rollback tracker accepts it, accepts
//! it again, and refuses it once a newer version is in force.

use crate::class;
use crate::fixtures;
use cardgate_card::revocation::{RevocationListBuilder, RevocationTracker};
use cardgate_card::{CardSerial, IssuerPublicKey, RevocationList};

const HEADER_LEN: usize = 41;
const ENTRY_LEN: usize = 17;
const SIGNATURE_LEN: usize = 64;

/// Tokens for mutators.
pub const DICTIONARY: &[&[u8]] = &[
    b"CGRL",
    b"CGRL\x01",
    b"\x00\x00\x00\x00",
    b"\x00\x00\x00\x01",
    b"\xFF\xFF\xFF\xFF",
    b"\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
    b"\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\x01",
    b"\x06",
    b"\x07",
];

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn check_list(bytes: &[u8], list: &RevocationList, issuer: &IssuerPublicKey) {
    let count = (bytes.len() - HEADER_LEN - SIGNATURE_LEN) / ENTRY_LEN;
    assert_eq!(list.len(), count, "entry count differs from the file");
    assert_eq!(list.version(), be_u64(&bytes[13..]));
    assert_eq!(list.issued_at(), be_u64(&bytes[21..]) as i64);
    assert_eq!(list.next_update(), be_u64(&bytes[29..]) as i64);
    assert!(list.next_update() >= list.issued_at());
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    assert_eq!(&list.digest()[..], digest.as_ref());
    let mut in_file = Vec::with_capacity(count);
    for e in bytes[HEADER_LEN..bytes.len() - SIGNATURE_LEN].chunks_exact(ENTRY_LEN) {
        let mut serial = [0u8; 8];
        serial.copy_from_slice(&e[..8]);
        let found = list
            .lookup(&CardSerial(serial))
            .unwrap_or_else(|| panic!("a listed serial is not revoked"));
        assert_eq!(found.revoked_at, be_u64(&e[8..]) as i64);
        assert_eq!(found.reason.to_byte(), e[16]);
        in_file.push(serial);
    }
    // A serial next to a listed one, but not listed itself, is not revoked.
    for s in in_file.iter().take(4) {
        let mut near = *s;
        near[7] ^= 1;
        if !in_file.contains(&near) {
            assert!(
                list.lookup(&CardSerial(near)).is_none(),
                "an unlisted serial is revoked"
            );
        }
    }
    let entries = list.entries();
    assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "entries not sorted"
    );
    if issuer == &fixtures::issuer().public_key() {
        let mut builder =
            RevocationListBuilder::new(list.version(), list.issued_at(), list.next_update());
        for (serial, r) in &entries {
            builder.revoke(*serial, *r);
        }
        let rebuilt = builder
            .sign(fixtures::issuer())
            .unwrap_or_else(|e| panic!("a verified list cannot be rebuilt: {e}"));
        assert_eq!(
            rebuilt, bytes,
            "rebuilding a verified list gives other bytes"
        );
    }
    let mut tracker = RevocationTracker::new();
    assert!(tracker.accept(bytes, issuer).is_ok());
    assert!(
        tracker.accept(bytes, issuer).is_ok(),
        "the same list was refused on reload"
    );
    if let Some(newer) = list.version().checked_add(1) {
        let mut ahead = RevocationTracker::resume(newer, [0; 32]);
        assert!(
            ahead.accept(bytes, issuer).is_err(),
            "an older list was accepted (rollback)"
        );
    }
}

/// Makes `body` a well-signed list under the test issuer.
fn sign_structure(body: &[u8], fix_header: bool) -> Vec<u8> {
    let mut out = body.to_vec();
    if out.len() < HEADER_LEN {
        out.resize(HEADER_LEN, 0);
    }
    let count = (out.len() - HEADER_LEN) / ENTRY_LEN;
    out.truncate(HEADER_LEN + count * ENTRY_LEN);
    if fix_header {
        out[..4].copy_from_slice(b"CGRL");
        out[4] = 1;
        out[37..41].copy_from_slice(&(count as u32).to_be_bytes());
    }
    let issuer = fixtures::issuer();
    out[5..13].copy_from_slice(&issuer.public_key().key_id());
    let signature = issuer.sign(&out);
    out.extend_from_slice(&signature);
    out
}

/// Runs one input; returns its outcome class.
pub fn run(data: &[u8]) -> u64 {
    let Some((&mode, body)) = data.split_first() else {
        return 0;
    };
    let known = fixtures::issuer().public_key();
    let bytes = if mode & 1 == 1 {
        sign_structure(body, mode & 2 == 0)
    } else {
        body.to_vec()
    };
    let outcome = match RevocationList::verify(&bytes, &known) {
        Ok(list) => {
            check_list(&bytes, &list, &known);
            1
        }
        Err(e) => class::of_debug(&format!("{e:?}")),
    };
    let unknown = fixtures::unknown_issuer().public_key();
    if let Ok(list) = RevocationList::verify(&bytes, &unknown) {
        panic!(
            "a list of version {} verified under an issuer the input cannot know",
            list.version()
        );
    }
    class::mix(&[u64::from(mode & 3), outcome])
}
