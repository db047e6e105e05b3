//! The fixed world every harness and the corpus generator share: a test issuer key derived
//! from a constant seed (so that committed certificates and lists verify in every process),
//! the PIN and PUK of the test cards, "today", and the reference audit log.
//!
//! Everything here is test material. None of it is used outside fuzzing.

use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::issue::IssueRequest;
use cardgate_card::revocation::{Revocation, RevocationListBuilder};
use cardgate_card::{IssuerKey, Pin, Puk, RevocationList, RevocationReason};
use cardgate_sim::{create_card, CardImage};
use std::sync::OnceLock;
use time::macros::date;
use time::Date;

/// The seed of the fuzzing issuer key (a test key, published here on purpose).
const ISSUER_SEED: [u8; 32] = *b"cardgate fuzz test issuer seed!!";

/// The operator PIN of the test cards.
pub const PIN: &str = "Tanuki42";
/// The transport PUK of the test cards.
pub const PUK: &str = "Kitsune12345";
/// The day every login is attempted on.
pub const TODAY: Date = date!(2026 - 06 - 01);
/// The serial of the test operator card.
pub const CARD_SERIAL: CardSerial = CardSerial([0xC0, 0xFF, 0xEE, 0x00, 0x00, 0x00, 0x00, 0x42]);
/// A serial on the fuzzing revocation list.
pub const REVOKED_SERIAL: CardSerial = CardSerial([0xDE, 0xAD, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
/// The version of the fuzzing revocation list.
pub const LIST_VERSION: u64 = 7;

/// PKCS#8 v2 for an Ed25519 key, as ring writes it: a fixed prefix, the seed, a fixed middle,
/// the public key.
fn ed25519_pkcs8(seed: &[u8; 32]) -> Option<Vec<u8>> {
    use ring::signature::KeyPair;
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
    let mut der = vec![
        0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der.extend_from_slice(&[0xA1, 0x23, 0x03, 0x21, 0x00]);
    der.extend_from_slice(pair.public_key().as_ref());
    Some(der)
}

/// The fixed test issuer.
pub fn issuer() -> &'static IssuerKey {
    static KEY: OnceLock<IssuerKey> = OnceLock::new();
    KEY.get_or_init(|| {
        ed25519_pkcs8(&ISSUER_SEED)
            .and_then(|der| IssuerKey::from_pkcs8(&der).ok())
            .unwrap_or_else(|| panic!("fixture: ring refused the fixed test issuer key"))
    })
}

/// An issuer no input can know: made fresh in each process.
pub fn unknown_issuer() -> &'static IssuerKey {
    static KEY: OnceLock<IssuerKey> = OnceLock::new();
    KEY.get_or_init(|| {
        IssuerKey::generate()
            .unwrap_or_else(|e| panic!("fixture: no randomness for a test key: {e}"))
    })
}

/// The test PIN.
pub fn pin() -> Pin {
    Pin::parse(PIN).unwrap_or_else(|_| panic!("fixture: the test PIN is malformed"))
}

/// The test PUK.
pub fn puk() -> Puk {
    Puk::parse(PUK).unwrap_or_else(|_| panic!("fixture: the test PUK is malformed"))
}

/// A secret in the contract's 16-byte wire form (padded with `FF`).
pub fn wire(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF; 16];
    let n = text.len().min(16);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out
}

/// What the test card is issued with.
pub fn issue_request() -> IssueRequest {
    IssueRequest {
        serial: CARD_SERIAL,
        operator_id: "op-0042".into(),
        role: Role::Operator,
        valid_from: date!(2026 - 04 - 01),
        valid_until: date!(2027 - 03 - 31),
    }
}

/// The test operator card, personalised through the real issuance flow once per process.
pub fn personalised_card() -> CardImage {
    static IMAGE: OnceLock<CardImage> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            create_card(issuer(), &puk(), &pin(), &issue_request())
                .unwrap_or_else(|e| panic!("fixture: could not issue the test card: {e}"))
        })
        .clone()
}

/// The fuzzing revocation list, signed by [`issuer`]: it revokes [`REVOKED_SERIAL`].
pub fn revocation_list_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut builder = RevocationListBuilder::new(LIST_VERSION, 1_780_000_000, 1_790_000_000);
        builder.revoke(
            REVOKED_SERIAL,
            Revocation {
                revoked_at: 1_779_000_000,
                reason: RevocationReason::Lost,
            },
        );
        builder
            .sign(issuer())
            .unwrap_or_else(|e| panic!("fixture: could not sign the test list: {e}"))
    })
}

/// [`revocation_list_bytes`], verified.
pub fn revocation_list() -> &'static RevocationList {
    static LIST: OnceLock<RevocationList> = OnceLock::new();
    LIST.get_or_init(|| {
        RevocationList::verify(revocation_list_bytes(), &issuer().public_key())
            .unwrap_or_else(|e| panic!("fixture: the test list does not verify: {e}"))
    })
}

/// The reference audit log: a real log written by `cardgate-audit` (see the corpus
/// generator), its `k(0)` and its key file. The `audit_verify` harness checks fuzzed logs
/// against it.
pub mod audit_log {
    /// The segment `audit-00000001.jsonl`.
    pub const SEGMENT: &[u8] = include_bytes!("../fixtures/audit/audit-00000001.jsonl");
    /// `k(0)`, in hex.
    pub const K0_HEX: &str = include_str!("../fixtures/audit/k0.hex");
    /// The key file `seal.key`, as the writer left it.
    pub const KEY_FILE: &[u8] = include_bytes!("../fixtures/audit/seal.key");
}
