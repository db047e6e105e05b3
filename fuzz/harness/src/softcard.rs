//! Random APDU sequences against the software card.
//!
//! Input: one byte choosing the card (even: the personalised test card; odd: a blank card
//! with the test PUK), then [`crate::chunks`], one APDU each. Two declared lengths are
//! actions instead of APDUs: `FFFF` powers the card off and on, `FFFE` resets it.
//!
//! Invariants checked after every APDU:
//! * the card answers with a status word and at most 258 bytes;
//! * try counters stay within their maximum, drop by at most one per APDU, and go up only
//!   when the right PIN or PUK was presented (VERIFY, CHANGE REFERENCE DATA, RESET RETRY
//!   COUNTER) and the card answered `9000`;
//! * `63Cx` reports exactly the tries left;
//! * a `9000` to a presented secret means the secret was right;
//! * INTERNAL AUTHENTICATE answers `9000` only in a PIN-verified session, and its signature
//!   verifies under the card's public key;
//! * GET DATA returns exactly the stored certificate.

use crate::chunks;
use crate::class;
use crate::fixtures;
use cardgate_card::cert::AUTH_PREFIX;
use cardgate_card::commands::{ins, REF_PIN, REF_PUK};
use cardgate_card::{Certificate, Command};
use cardgate_sim::image::{PIN_TRIES, PUK_TRIES};
use cardgate_sim::{CardImage, SoftCard};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

/// Declared chunk length that power-cycles the card.
pub const POWER_CYCLE: u16 = 0xFFFF;
/// Declared chunk length that resets the card.
pub const RESET: u16 = 0xFFFE;

/// Tokens for mutators: headers of every command, the AID and the test secrets.
pub const DICTIONARY: &[&[u8]] = &[
    b"\x00\xA4\x04\x00\x0A\xF0CARDGATE\x01\x00",
    b"\x00\xCA\x7F\x21\x00",
    b"\x00\x20\x00\x81\x10",
    b"\x00\x20\x00\x82\x10",
    b"\x00\x20\x00\x81",
    b"\x00\x24\x00\x81\x20",
    b"\x00\x2C\x00\x81\x20",
    b"\x00\x88\x00\x00\x20",
    b"\x00\x47\x80\x00\x00",
    b"\x00\xDA\x7F\x21",
    b"Tanuki42\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
    b"Kitsune12345\xFF\xFF\xFF\xFF",
    b"Kappa777\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
    b"\xFF\xFF",
    b"\xFF\xFE",
];

fn sw(response: &[u8]) -> [u8; 2] {
    match response {
        [.., a, b] => [*a, *b],
        _ => [0, 0],
    }
}

/// Runs one sequence; returns its outcome class.
pub fn run(data: &[u8]) -> u64 {
    let Some((&choice, rest)) = data.split_first() else {
        return 0;
    };
    let personalised = choice & 1 == 0;
    let image = if personalised {
        fixtures::personalised_card()
    } else {
        CardImage::blank(&fixtures::puk())
    };
    let mut card = SoftCard::in_memory(image);
    card.power_on();
    let mut current_pin = personalised.then(|| fixtures::wire(fixtures::PIN));
    let puk = fixtures::wire(fixtures::PUK);
    let mut seen = Vec::new();
    for (declared, apdu) in chunks::split_with_lengths(rest) {
        match declared {
            POWER_CYCLE => {
                card.power_off();
                card.power_on();
                continue;
            }
            RESET => {
                card.reset();
                continue;
            }
            _ => {}
        }
        let (pin_before, puk_before) = (card.image().pin_tries(), card.image().puk_tries());
        let response = card.handle(apdu);
        assert!(
            (2..=258).contains(&response.len()),
            "response of {} bytes",
            response.len()
        );
        let status = sw(&response);
        let (pin_after, puk_after) = (card.image().pin_tries(), card.image().puk_tries());
        assert!(
            pin_after <= PIN_TRIES && puk_after <= PUK_TRIES,
            "tries over the maximum"
        );
        assert!(
            pin_before.saturating_sub(pin_after) <= 1 && puk_before.saturating_sub(puk_after) <= 1,
            "one APDU spent more than one try"
        );
        let ok = status == [0x90, 0x00];
        let parsed = Command::parse(apdu).ok();
        let (cla, command, p2) = match &parsed {
            Some(c) => (c.cla, c.ins, c.p2),
            None => (0xFF, 0, 0),
        };
        let data = parsed.as_ref().map(Command::data).unwrap_or(&[]);
        let presented = (data.len() == 16 || data.len() == 32).then(|| &data[..16]);
        let right_pin = current_pin.is_some() && presented == current_pin.as_deref();
        let right_puk = presented == Some(&puk[..]);
        if pin_after > pin_before {
            assert!(
                ok && cla == 0
                    && ((matches!(command, ins::VERIFY | ins::CHANGE_REFERENCE_DATA) && right_pin)
                        || (command == ins::RESET_RETRY_COUNTER && right_puk)),
                "PIN tries went up without the right secret: {:02X?}",
                &apdu[..apdu.len().min(5)]
            );
        }
        if puk_after > puk_before {
            assert!(ok && right_puk, "PUK tries went up without the PUK");
        }
        if status[0] == 0x63 {
            let left = status[1] & 0x0F;
            if !data.is_empty() {
                assert!(
                    (left == pin_after && pin_after + 1 == pin_before)
                        || (left == puk_after && puk_after + 1 == puk_before),
                    "63C{left:X} after a presented secret does not match the counters"
                );
            } else {
                assert!(pin_after == pin_before && puk_after == puk_before);
                assert!(
                    left == pin_after || left == puk_after,
                    "63C{left:X} is wrong"
                );
            }
        }
        if ok && data.len() == 16 && command == ins::VERIFY && p2 == REF_PIN {
            assert!(right_pin, "VERIFY accepted a wrong PIN");
        }
        if ok && data.len() == 16 && command == ins::VERIFY && p2 == REF_PUK {
            assert!(right_puk, "VERIFY accepted a wrong PUK");
        }
        if ok
            && data.len() == 32
            && matches!(
                command,
                ins::CHANGE_REFERENCE_DATA | ins::RESET_RETRY_COUNTER
            )
        {
            current_pin = Some(data[16..32].to_vec());
        }
        if ok && command == ins::INTERNAL_AUTHENTICATE {
            assert!(card.is_pin_verified(), "signed without a verified PIN");
            let key = card.image().card_public_key();
            let Some(key) = key else {
                panic!("signed without a key");
            };
            let mut message = AUTH_PREFIX.to_vec();
            message.extend_from_slice(data.get(..32).unwrap_or(&[]));
            let signature = &response[..response.len() - 2];
            assert!(
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
                    .verify(&message, signature)
                    .is_ok(),
                "INTERNAL AUTHENTICATE signature does not verify"
            );
        }
        if ok && command == ins::GET_DATA {
            let stored = card.image().certificate().map(Certificate::encode);
            assert_eq!(
                stored.as_deref(),
                Some(&response[..response.len() - 2]),
                "GET DATA returned something else than the stored certificate"
            );
        }
        // Unknown instructions all count as one, so that the class is the card's behaviour
        // and not the fuzzer's byte choice.
        let known = [
            ins::SELECT,
            ins::GET_DATA,
            ins::VERIFY,
            ins::CHANGE_REFERENCE_DATA,
            ins::RESET_RETRY_COUNTER,
            ins::INTERNAL_AUTHENTICATE,
            ins::GENERATE_KEY_PAIR,
            ins::PUT_DATA,
        ];
        let command_class = if known.contains(&command) { command } else { 0 };
        seen.push(class::mix(&[
            u64::from(command_class),
            u64::from(status[0]),
            u64::from(status[1]),
        ]));
    }
    seen.sort_unstable();
    seen.dedup();
    class::mix(&seen)
}
