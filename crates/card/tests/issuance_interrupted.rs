//! Issuance pulled at every APDU: the card is left blank to the next issuance, or finished;
//! never with a certificate and no PIN (found by the fault campaign, `tests/faults/`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_card::issue::{issue_card, IssueRequest};
use cardgate_card::{CardSerial, IssuerKey, OperatorCard, Pin, Puk, Role};
use cardgate_sim::transport::{Faults, SimTransport};
use cardgate_sim::{CardImage, SoftCard};

#[test]
fn a_card_pulled_during_issuance_has_no_certificate_without_a_pin_and_can_be_issued_again() {
    let issuer = IssuerKey::generate().unwrap();
    let puk = Puk::parse("Kitsune12345").unwrap();
    let pin = Pin::parse("Tanuki42x").unwrap();
    let request = IssueRequest {
        serial: CardSerial([1, 2, 3, 4, 5, 6, 7, 8]),
        operator_id: "op-0042".into(),
        role: Role::Operator,
        valid_from: time::macros::date!(2020 - 01 - 01),
        valid_until: time::macros::date!(2099 - 12 - 31),
    };
    let issue = |image: CardImage, faults: Faults| {
        let transport = SimTransport::new(SoftCard::in_memory(image)).with_faults(faults);
        let mut card = OperatorCard::new(transport);
        let ok = issue_card(&mut card, &issuer, &puk, &request, &pin).is_ok();
        (ok, card.into_transport().into_card().into_image())
    };
    // SELECT, VERIFY PUK, GENERATE, RESET RETRY COUNTER, PUT DATA.
    for n in 0..5 {
        for faults in [Faults::new().pull_before(n), Faults::new().pull_after(n)] {
            let (ok, after) = issue(CardImage::blank(&puk), faults);
            assert!(!ok, "n={n}");
            assert_eq!(after.puk_tries(), 10, "n={n}");
            assert!(
                !after.is_personalised() || after.has_pin(),
                "n={n}: a certificate without a PIN"
            );
            if after.is_personalised() {
                continue; // only when PUT DATA went through and its answer was lost
            }
            let (ok, done) = issue(after, Faults::new());
            assert!(ok, "n={n}: the interrupted card cannot be issued again");
            assert!(done.is_personalised() && done.has_pin(), "n={n}");
        }
    }
}
