//! The reselect value the protocol crate hands the transaction seam, against the software
//! card: it selects the application and so clears a verified PIN or PUK.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::issue::IssueRequest;
use cardgate_card::{reselect, IssuerKey, OperatorCard, Pin, Puk, Verification};
use cardgate_sim::{create_card, SimTransport, SoftCard};
use time::macros::date;

#[test]
fn the_reselect_clears_a_verified_pin_on_the_software_card() {
    let issuer = IssuerKey::generate().unwrap();
    let request = IssueRequest {
        serial: CardSerial([1, 2, 3, 4, 5, 6, 7, 8]),
        operator_id: "op-0042".into(),
        role: Role::Operator,
        valid_from: date!(2026 - 04 - 01),
        valid_until: date!(2027 - 03 - 31),
    };
    let pin = Pin::parse("Tanuki42").unwrap();
    let image = create_card(
        &issuer,
        &Puk::parse("Kitsune12345").unwrap(),
        &pin,
        &request,
    )
    .unwrap();
    let mut card = OperatorCard::new(SimTransport::new(SoftCard::in_memory(image)));
    card.select().unwrap().unwrap();
    assert_eq!(card.verify_pin(&pin).unwrap(), Verification::Verified);
    let mut transport = card.into_transport();
    assert!(transport.card().is_pin_verified());

    assert!(reselect().clear(&mut transport));
    assert!(transport.card().is_selected());
    assert!(!transport.card().is_pin_verified());
}
