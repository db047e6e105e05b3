//! The in-process transport: transcript and every kind of injected fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardgate_card::commands::ins;
use cardgate_card::StatusWord;
use cardgate_reader::{CardTransport, TransportError};
use cardgate_sim::transport::Fault;
use cardgate_sim::{Faults, SimTransport, SoftCard, ATR};
use common::*;
use std::time::{Duration, Instant};

fn transport(faults: Faults) -> SimTransport {
    SimTransport::new(SoftCard::in_memory(personalised())).with_faults(faults)
}

#[test]
fn defaults_and_transcript() {
    let mut t = transport(Faults::new());
    assert_eq!(t.reader_name(), "cardgate-sim");
    assert_eq!(t.atr(), &ATR[..]);
    let transcript = t.transcript();
    let r = t.transmit(&select()).unwrap();
    assert_eq!(sw(&r), [0x90, 0x00]);
    t.transmit(&verify(0x81, &wire(PIN))).unwrap();
    let log = transcript.exchanges();
    assert_eq!(transcript.instructions(), vec![ins::SELECT, ins::VERIFY]);
    assert_eq!(log[1].index, 1);
    assert_eq!(&log[1].command[..], &verify(0x81, &wire(PIN))[..]);
    assert_eq!(log[1].status(), Some(StatusWord::Success));
    assert_eq!(log[1].fault, None);
    // The transcript's Debug never shows command data.
    let shown = format!("{:?}", log[1]);
    assert!(
        !shown.contains("54616E756B69") && !shown.contains(PIN),
        "{shown}"
    );
    let t = t.with_reader_name("Reader 7");
    assert_eq!(t.reader_name(), "Reader 7");
}

#[test]
fn pulled_before_apdu_n_the_card_never_sees_it() {
    let mut t = transport(Faults::new().pull_before(1));
    t.transmit(&select()).unwrap();
    assert!(matches!(
        t.transmit(&verify(0x81, &wire("Wrong999"))),
        Err(TransportError::CardRemoved)
    ));
    assert!(matches!(
        t.transmit(&select()),
        Err(TransportError::CardRemoved)
    ));
    assert!(!t.is_card_present());
    assert_eq!(
        t.card().image().pin_tries(),
        3,
        "the card never saw the VERIFY"
    );
    let faults: Vec<_> = t.transcript().exchanges().iter().map(|e| e.fault).collect();
    assert_eq!(
        faults,
        vec![None, Some(Fault::PulledBefore), Some(Fault::CardAbsent)]
    );
}

#[test]
fn pulled_after_apdu_n_the_card_processed_it() {
    let mut t = transport(Faults::new().pull_after(1));
    t.transmit(&select()).unwrap();
    assert!(matches!(
        t.transmit(&verify(0x81, &wire("Wrong999"))),
        Err(TransportError::CardRemoved)
    ));
    assert!(matches!(
        t.transmit(&select()),
        Err(TransportError::CardRemoved)
    ));
    assert_eq!(
        t.card().image().pin_tries(),
        2,
        "the card spent the try before leaving"
    );
    let log = t.transcript().exchanges();
    assert_eq!(log[1].fault, Some(Fault::PulledAfter));
    assert!(log[1].response.is_none());
    // Pulling ends the session: reinserted, the card is not verified.
    let mut again = SimTransport::new(t.into_card());
    again.transmit(&select()).unwrap();
    assert_eq!(
        &again.transmit(&[0x00, 0x20, 0x00, 0x81]).unwrap()[..],
        &[0x63, 0xC2]
    );
}

#[test]
fn corrupted_truncated_and_wrong_status_responses() {
    let clean = {
        let mut t = transport(Faults::new());
        t.transmit(&select()).unwrap().to_vec()
    };
    let mut t = transport(Faults::new().corrupt_response(0).corrupt_response(1));
    let r = t.transmit(&select()).unwrap();
    assert_eq!(r.len(), clean.len());
    assert_eq!(
        &r[r.len() - 2..],
        &[0x90, 0x00],
        "data corrupted, status word kept"
    );
    assert!(r[..r.len() - 2].iter().zip(&clean).all(|(a, b)| *a == !*b));
    // A response without data gets its status word flipped.
    assert_eq!(
        &t.transmit(&verify(0x81, &wire(PIN))).unwrap()[..],
        &[0x6F, 0xFF]
    );

    let mut t = transport(
        Faults::new()
            .truncate_response(0)
            .truncate_response_to(1, 0),
    );
    assert_eq!(
        &t.transmit(&select()).unwrap()[..],
        &clean[..clean.len() - 1]
    );
    assert!(t.transmit(&verify(0x81, &wire(PIN))).unwrap().is_empty());

    let mut t = transport(Faults::new().wrong_status(1, StatusWord::Success));
    t.transmit(&select()).unwrap();
    assert_eq!(
        &t.transmit(&verify(0x81, &wire("Wrong999"))).unwrap()[..],
        &[0x90, 0x00]
    );
    assert_eq!(
        t.card().image().pin_tries(),
        2,
        "the card itself refused the PIN"
    );
    let faults: Vec<_> = t.transcript().exchanges().iter().map(|e| e.fault).collect();
    assert_eq!(faults, vec![None, Some(Fault::WrongStatus)]);
}

#[test]
fn a_slow_card_delays_every_apdu() {
    let delay = Duration::from_millis(30);
    let mut t = transport(Faults::new().slow(delay));
    let started = Instant::now();
    t.transmit(&select()).unwrap();
    t.transmit(&select()).unwrap();
    // A lower bound only: the fault must actually delay; speed itself is benchmarked.
    assert!(started.elapsed() >= delay * 2);
}

#[test]
fn login_through_the_transport_and_pulled_at_each_apdu() {
    use cardgate_card::OperatorCard;
    let mut host = OperatorCard::new(transport(Faults::new()));
    let cert = host.select().unwrap().unwrap();
    host.verify_pin(&pin()).unwrap();
    let challenge = [7u8; 32];
    let signature = host.internal_authenticate(&challenge).unwrap();
    assert!(cert.verify_card_signature(&challenge, &signature));
    for n in 0..3 {
        for faults in [Faults::new().pull_before(n), Faults::new().pull_after(n)] {
            let mut host = OperatorCard::new(transport(faults));
            let outcome = host
                .select()
                .and_then(|_| host.verify_pin(&pin()))
                .and_then(|_| host.internal_authenticate(&challenge));
            assert!(outcome.unwrap_err().is_card_gone(), "APDU {n}");
        }
    }
}
