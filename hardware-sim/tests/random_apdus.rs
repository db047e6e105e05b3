//! Random APDU sequences against the software card: it never panics, every answer is a
//! well-formed response, and no try counter ever goes up without the right secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_sim::image::{PIN_TRIES, PUK_TRIES};
use cardgate_sim::SoftCard;
use common::*;
use proptest::prelude::*;

/// What the fuzzer does to the card.
#[derive(Debug, Clone)]
enum Action {
    Apdu(Vec<u8>),
    Reset,
    PowerCycle,
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(wire(PIN)),
        Just(wire("Kappa777")),
        Just(wire("Wrong999")),
        Just(wire(PUK)),
        Just(wire("Kitsune99999")),
        Just(wire("abcdefgh")),
        proptest::collection::vec(any::<u8>(), 16),
    ]
}

fn structured() -> impl Strategy<Value = Vec<u8>> {
    let cla = prop_oneof![8 => Just(0x00u8), 1 => any::<u8>()];
    let ins = prop_oneof![
        Just(0xA4u8),
        Just(0xCA),
        Just(0x20),
        Just(0x24),
        Just(0x2C),
        Just(0x88),
        Just(0x47),
        Just(0xDA),
        any::<u8>()
    ];
    let p1p2 = prop_oneof![
        Just([0x00u8, 0x81]),
        Just([0x00, 0x82]),
        Just([0x04, 0x00]),
        Just([0x7F, 0x21]),
        Just([0x80, 0x00]),
        Just([0x00, 0x00]),
        any::<[u8; 2]>()
    ];
    let data = prop_oneof![
        Just(Vec::new()),
        secret(),
        (secret(), secret()).prop_map(|(a, b)| [a, b].concat()),
        Just(cardgate_card::AID.to_vec()),
        proptest::collection::vec(any::<u8>(), 32),
        proptest::collection::vec(any::<u8>(), 0..255),
    ];
    let le = prop_oneof![Just(None), Just(Some(0u8)), any::<u8>().prop_map(Some)];
    (cla, ins, p1p2, data, le).prop_map(|(cla, ins, [p1, p2], data, le)| {
        let mut apdu = vec![cla, ins, p1, p2];
        if !data.is_empty() {
            apdu.push(data.len() as u8);
            apdu.extend_from_slice(&data);
        }
        apdu.extend(le);
        apdu
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Apdu(select())),
        12 => structured().prop_map(Action::Apdu),
        2 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Action::Apdu),
        1 => Just(Action::Reset),
        1 => Just(Action::PowerCycle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_card_consistent(actions in proptest::collection::vec(action(), 1..60)) {
        let mut card = SoftCard::in_memory(personalised());
        card.power_on();
        // The PIN as the card should now hold it (CHANGE and RESET RETRY COUNTER change it).
        let mut current_pin = wire(PIN);
        for action in actions {
            let apdu = match action {
                Action::Reset => { card.reset(); continue; }
                Action::PowerCycle => { card.power_off(); card.power_on(); continue; }
                Action::Apdu(apdu) => apdu,
            };
            let (pin_before, puk_before) = (card.image().pin_tries(), card.image().puk_tries());
            let response = card.handle(&apdu);
            prop_assert!((2..=258).contains(&response.len()));
            let status = sw(&response);
            let (pin_after, puk_after) = (card.image().pin_tries(), card.image().puk_tries());
            prop_assert!(pin_after <= PIN_TRIES && puk_after <= PUK_TRIES);
            prop_assert!(pin_before.saturating_sub(pin_after) <= 1 && puk_before.saturating_sub(puk_after) <= 1);

            let ok = status == [0x90, 0x00];
            let ins = apdu.get(1).copied().unwrap_or(0);
            let data = apdu.get(5..).unwrap_or(&[]);
            let presented = data.get(..16);
            let right_pin = presented == Some(&current_pin[..]);
            let right_puk = presented == Some(&wire(PUK)[..]);
            if pin_after > pin_before {
                prop_assert!(ok && apdu[0] == 0 && ((matches!(ins, 0x20 | 0x24) && right_pin) || (ins == 0x2C && right_puk)),
                    "PIN tries went up without the right secret: {apdu:02X?}");
            }
            if puk_after > puk_before {
                prop_assert!(ok && right_puk, "PUK tries went up without the PUK: {apdu:02X?}");
            }
            // 63Cx answers the tries left: after spending one when a secret was presented,
            // as they are when VERIFY only asks for the status.
            if status[0] == 0x63 {
                let left = status[1] & 0x0F;
                if apdu.len() > 5 {
                    prop_assert!(left == pin_after && pin_after + 1 == pin_before
                        || left == puk_after && puk_after + 1 == puk_before, "{status:02X?}");
                } else {
                    prop_assert!(pin_after == pin_before && puk_after == puk_before);
                    prop_assert!(left == pin_after || left == puk_after, "{status:02X?}");
                }
            }
            // Success on a presented secret means it was the right one.
            if ok && apdu.len() == 21 && ins == 0x20 && apdu[3] == 0x81 {
                prop_assert!(right_pin);
            }
            if ok && apdu.len() == 21 && ins == 0x20 && apdu[3] == 0x82 {
                prop_assert!(right_puk);
            }
            if ok && apdu.len() == 37 && matches!(ins, 0x24 | 0x2C) {
                current_pin = data[16..32].to_vec();
            }
            // INTERNAL AUTHENTICATE signs only for a PIN-verified session.
            if ok && ins == 0x88 {
                prop_assert!(card.is_pin_verified());
            }
        }
    }
}
