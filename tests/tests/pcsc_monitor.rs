//! The card-event monitor against a real pcscd: insertion and removal events (and how long
//! removal takes to show), and pcscd killed and restarted under it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_reader::monitor::{CardMonitor, MonitorOptions};
use cardgate_reader::CardEvent;
use cardgate_tests::fixtures::{PIN, PUK};
use cardgate_tests::{issuer_key, PcscLab, SoftCardFile};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Generous: pcscd polls vpcd presence every 400 ms; anything near this is broken.
const EVENT_LIMIT: Duration = Duration::from_secs(20);

/// Receives events until one matches; returns everything received, the match last.
fn until(
    events: &Receiver<CardEvent>,
    what: &str,
    matches: impl Fn(&CardEvent) -> bool,
) -> Vec<CardEvent> {
    let deadline = Instant::now() + EVENT_LIMIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) => {
                let done = matches(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no {what} within {EVENT_LIMIT:?} ({e}); events so far: {seen:?}"),
        }
    }
}

fn inserted(reader: &str) -> impl Fn(&CardEvent) -> bool + '_ {
    move |e| matches!(e, CardEvent::CardInserted { reader: r, .. } if r == reader)
}

fn removed(reader: &str) -> impl Fn(&CardEvent) -> bool + '_ {
    move |e| matches!(e, CardEvent::CardRemoved { reader: r } if r == reader)
}

#[test]
fn insertion_and_removal_events_arrive_and_removal_latency_is_measured() {
    let lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-events", PIN, PUK).unwrap();
    let reader = lab.reader(0).unwrap().to_owned();
    let (monitor, events) = CardMonitor::start(MonitorOptions::default()).unwrap();

    // At start: the readers, attached, and no card.
    let start = until(
        &events,
        "second reader",
        |e| matches!(e, CardEvent::ReaderAttached { reader } if reader == lab.reader(1).unwrap()),
    );
    assert_eq!(start.len(), 2, "{start:?}");
    assert!(start.contains(&CardEvent::ReaderAttached {
        reader: reader.clone()
    }));

    let mut latencies = Vec::new();
    for round in 0..4 {
        let mut card = lab.serve_card(0, &file, None).unwrap();
        let seen = until(&events, "insertion", inserted(&reader));
        assert_eq!(
            seen.last(),
            Some(&CardEvent::CardInserted {
                reader: reader.clone(),
                atr: cardgate_sim::ATR.to_vec()
            })
        );
        // Alternate an abrupt pull (SIGKILL: the kernel closes the socket) and a clean one.
        let pulled = Instant::now();
        if round % 2 == 0 {
            card.kill();
        } else {
            card.remove().unwrap();
        }
        let seen = until(&events, "removal", removed(&reader));
        latencies.push(pulled.elapsed());
        assert_eq!(seen.len(), 1, "only the removal was expected: {seen:?}");
    }
    eprintln!("disconnect -> CardRemoved event: {latencies:?} (pcscd polls vpcd every 400 ms)");
    monitor.stop();
}

#[test]
fn pcscd_killed_and_restarted_under_the_monitor() {
    let mut lab = PcscLab::start().unwrap();
    let issuer = issuer_key().unwrap();
    let file = SoftCardFile::personalised(&lab, &issuer, "op-restart", PIN, PUK).unwrap();
    let (slot0, slot1) = (
        lab.reader(0).unwrap().to_owned(),
        lab.reader(1).unwrap().to_owned(),
    );
    let mut first = lab.insert_card(0, &file).unwrap();

    let (monitor, events) = CardMonitor::start(MonitorOptions {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
    })
    .unwrap();
    until(&events, "the card present at start", inserted(&slot0));

    // pcscd crashes. While it is down, the card in slot 0 is taken out and another goes
    // into slot 1 (the software card keeps trying to reach the reader, as a card stays in a
    // physical reader).
    lab.kill_pcscd();
    until(&events, "ServiceLost", |e| *e == CardEvent::ServiceLost);
    first.remove().unwrap();
    let _second = lab.serve_card(1, &file, None).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    lab.start_pcscd().unwrap();

    let restored = until(&events, "ServiceRestored", |e| {
        *e == CardEvent::ServiceRestored
    });
    assert!(
        !restored
            .iter()
            .any(|e| matches!(e, CardEvent::CardInserted { .. })),
        "nothing may be reported present while the service is down: {restored:?}"
    );
    // Re-sync: the card that left during the outage is reported gone (once the new pcscd has
    // had RESTORE_SETTLE to read its cards), the new one present.
    let back = Instant::now();
    let mut resync = until(
        &events,
        "the card inserted during the outage",
        inserted(&slot1),
    );
    if !resync.iter().any(removed(&slot0)) {
        resync.extend(until(
            &events,
            "the card that left during the outage",
            removed(&slot0),
        ));
    }
    assert!(
        back.elapsed() >= cardgate_reader::monitor::RESTORE_SETTLE / 2,
        "the removal was reported before the new pcscd could have read the card"
    );
    assert!(!resync.iter().any(inserted(&slot0)), "{resync:?}");

    // And events keep flowing on the new context.
    let mut third = lab.serve_card(0, &file, None).unwrap();
    until(&events, "insertion after the restart", inserted(&slot0));
    third.kill();
    until(&events, "removal after the restart", removed(&slot0));

    // A clean stop (SIGTERM) is a service loss too, and a second restart works the same.
    // pcscd removes its readers before it exits: that is the outage, not a card removal on
    // every reader (it used to be reported as one, and the daemon recorded `card_removed`).
    lab.stop_pcscd().unwrap();
    let stopping = until(&events, "ServiceLost after a clean stop", |e| {
        *e == CardEvent::ServiceLost
    });
    assert_eq!(
        stopping,
        vec![CardEvent::ServiceLost],
        "a clean pcscd stop is the service lost, nothing else"
    );
    lab.start_pcscd().unwrap();
    until(&events, "ServiceRestored again", |e| {
        *e == CardEvent::ServiceRestored
    });
    let back = until(&events, "the slot 1 card re-announced", inserted(&slot1));
    // It was there before and after: re-announced, never reported removed.
    assert!(!back.iter().any(removed(&slot1)), "{back:?}");
    monitor.stop();
}
