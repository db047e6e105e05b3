//! Shared helpers for the integration tests (included with `mod common;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::issue::IssueRequest;
use cardgate_card::{IssuerKey, Pin, Puk, AID};
use cardgate_sim::{create_card, CardImage};
use std::sync::OnceLock;

// The harness's one fixtures module, by path: cardgate-tests depends on this crate, so
// depending on it back would be a cycle.
#[path = "../../../tests/src/fixtures.rs"]
mod fixtures;
pub use fixtures::{PIN, PUK};

pub fn pin() -> Pin {
    Pin::parse(PIN).unwrap()
}

pub fn puk() -> Puk {
    Puk::parse(PUK).unwrap()
}

pub fn issuer() -> &'static IssuerKey {
    static ISSUER: OnceLock<IssuerKey> = OnceLock::new();
    ISSUER.get_or_init(|| IssuerKey::generate().unwrap())
}

/// A personalised card, issued once per test binary and cloned.
pub fn personalised() -> CardImage {
    static IMAGE: OnceLock<CardImage> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let request = IssueRequest {
                serial: CardSerial([1, 2, 3, 4, 5, 6, 7, 8]),
                operator_id: "op-0042".into(),
                role: Role::Operator,
                valid_from: time::macros::date!(2026 - 01 - 01),
                valid_until: time::macros::date!(2027 - 01 - 01),
            };
            create_card(issuer(), &puk(), &pin(), &request).unwrap()
        })
        .clone()
}

pub fn select() -> Vec<u8> {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, AID.len() as u8];
    apdu.extend_from_slice(&AID);
    apdu.push(0x00);
    apdu
}

/// VERIFY (`81` PIN or `82` PUK) with a 16-byte wire secret.
pub fn verify(reference: u8, wire: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, 0x20, 0x00, reference, 0x10];
    apdu.extend_from_slice(wire);
    apdu
}

pub fn wire(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF; 16];
    out[..text.len()].copy_from_slice(text.as_bytes());
    out
}

pub fn internal_authenticate(challenge: &[u8; 32]) -> Vec<u8> {
    let mut apdu = vec![0x00, 0x88, 0x00, 0x00, 0x20];
    apdu.extend_from_slice(challenge);
    apdu.push(0x00);
    apdu
}

pub fn sw(response: &[u8]) -> [u8; 2] {
    let n = response.len();
    [response[n - 2], response[n - 1]]
}
