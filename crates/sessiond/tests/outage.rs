//! The smart-card service gone, in process: the engine's reaction (recorded as itself, every
//! active session locked whatever `on_removal` says, the logins waiting for their session
//! dropped) and the daemon loop's, on `ServiceLost` and when the card monitor goes away.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_audit::record::LockReason;
use cardgate_audit::Event;
use cardgate_protocol::Answer;
use cardgate_reader::CardEvent;
use cardgate_sessiond::daemon;
use cardgate_sessiond::sessions::SessionState;
use common::*;
use std::time::{Duration, Instant};
use tokio::net::UnixListener;

fn open(w: &World, user: &str, session: &str) {
    assert!(matches!(w.auth(user, PIN), Answer::Granted { .. }));
    assert!(matches!(
        w.engine.open_session("juki-01", user, session),
        Answer::Granted { .. }
    ));
}

fn locks(w: &World) -> Vec<LockReason> {
    w.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SessionLocked { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn the_outage_is_recorded_as_itself_and_locks_even_with_on_removal_end() {
    let w = world_with("[session]\non_removal = \"end\"\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    open(&w, "alice", "c1");
    // A second login waits for its session when the service goes.
    assert!(matches!(w.auth("alice", PIN), Answer::Granted { .. }));

    assert_eq!(w.engine.reader_service_lost(Instant::now()), 1);
    assert_eq!(w.calls().as_slice(), ["lock-session c1"]);
    let sessions = w.engine.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].state, SessionState::Locked);
    let events = w.events();
    assert!(events.contains(&Event::ReaderServiceLost), "{events:?}");
    assert!(!events.contains(&Event::CardRemoved), "{events:?}");
    assert_eq!(locks(&w), [LockReason::ReaderServiceLost]);
    // The authentication from before the outage opens nothing.
    assert!(!matches!(
        w.engine.open_session("juki-01", "alice", "c2"),
        Answer::Granted { .. }
    ));

    w.engine.reader_service_back();
    let events = w.events();
    assert_eq!(events.last(), Some(&Event::ReaderServiceBack), "{events:?}");
    // Nothing unlocked by itself.
    assert_eq!(w.calls().as_slice(), ["lock-session c1"]);
}

async fn run_with(
    w: &World,
    send: impl FnOnce(tokio::sync::mpsc::UnboundedSender<CardEvent>),
) -> daemon::Stopped {
    let login = UnixListener::bind(w.dir.join("login.sock")).unwrap();
    let admin = UnixListener::bind(w.dir.join("admin.sock")).unwrap();
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    send(events_tx);
    tokio::time::timeout(
        Duration::from_secs(20),
        daemon::run(w.engine.clone(), login, admin, events_rx, async {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_lost_and_back_through_the_daemon_loop() {
    let w = world();
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let w = tokio::task::spawn_blocking(move || {
        open(&w, "alice", "c1");
        w
    })
    .await
    .unwrap();
    let _ = run_with(&w, |tx| {
        tx.send(CardEvent::ServiceLost).unwrap();
        tx.send(CardEvent::ServiceRestored).unwrap();
        // Kept open: the loop ends on the shutdown future, not on the channel.
        std::mem::forget(tx);
    })
    .await;
    let w = tokio::task::spawn_blocking(move || {
        assert_eq!(w.calls().as_slice(), ["lock-session c1"]);
        w
    })
    .await
    .unwrap();
    let kinds: Vec<Event> = w.events();
    let lost = kinds
        .iter()
        .position(|e| *e == Event::ReaderServiceLost)
        .unwrap();
    let back = kinds
        .iter()
        .position(|e| *e == Event::ReaderServiceBack)
        .unwrap();
    assert!(lost < back, "{kinds:?}");
    assert!(!kinds.contains(&Event::CardRemoved), "{kinds:?}");
}

/// The card monitor gone (its channel closed): no removal can be seen any more; the daemon
/// locks every session, records why (not a `card_removed` on every reader, which it used to
/// write), and stops so that systemd restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_gone_locks_every_session_and_stops_the_loop() {
    let w = world_with("[session]\non_removal = \"end\"\n");
    w.cards.insert(READER, card(&w.issuer, ALICE, "op-alice"));
    let w = tokio::task::spawn_blocking(move || {
        open(&w, "alice", "c1");
        w
    })
    .await
    .unwrap();
    let started = Instant::now();
    let stopped = run_with(&w, drop).await;
    assert_eq!(stopped.unfinished, 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the loop stopped by itself"
    );
    let w = tokio::task::spawn_blocking(move || {
        assert_eq!(w.calls().as_slice(), ["lock-session c1"]);
        w
    })
    .await
    .unwrap();
    let events = w.events();
    assert!(events.contains(&Event::ReaderServiceLost), "{events:?}");
    assert!(!events.contains(&Event::CardRemoved), "{events:?}");
}
