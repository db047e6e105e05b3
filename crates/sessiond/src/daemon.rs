//! The daemon's event loop, in the shape of mini-redis's `run(listener, shutdown)`: the two
//! socket servers, card events, and a one-second tick, until `shutdown` resolves; then it
//! waits for the requests already being served (mini-redis's `shutdown_complete`), so that
//! no login is still deciding, or recording, when the daemon records its stop and closes the
//! log.

use crate::engine::Engine;
use crate::server::{serve, Socket};
use cardgate_reader::CardEvent;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};

/// How often the engine's periodic duties run (revocation list file, business hours,
/// re-verification). A new list therefore takes effect within this time.
pub const TICK: Duration = Duration::from_secs(1);

/// How long [`run`] waits, once it stops accepting, for the requests already being served. A
/// card operation that hangs (a reader that stopped answering) must not hold the daemon
/// forever; those still running after this are named in the log and in the stop record.
/// Well inside `TimeoutStopSec=15` of `dist/cardgated.service`, so that the stop is recorded
/// before systemd kills the daemon.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How [`run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Stopped {
    /// Requests still being served when [`SHUTDOWN_GRACE`] ran out (0: every request that was
    /// accepted was answered, and its records written, before `run` returned).
    pub unfinished: usize,
}

/// Runs until `shutdown` resolves, then waits up to [`SHUTDOWN_GRACE`] for the requests in
/// flight. Card events arrive on `events` (from the PC/SC monitor).
pub async fn run(
    engine: Arc<Engine>,
    login: UnixListener,
    admin: UnixListener,
    mut events: mpsc::UnboundedReceiver<CardEvent>,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection's task holds a clone of `in_flight`; the receiver sees the channel
    // close when the last of them is done. Nothing is ever sent on it.
    let (in_flight, mut all_done) = mpsc::channel::<()>(1);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // Either the stop was signalled, or its sender is gone (the loop ended): stop both ways.
        if rx.wait_for(|s| *s).await.is_err() {
            tracing::debug!("the stop signal's sender went away; stopping");
        }
    };
    let login_task = tokio::spawn(serve(
        engine.clone(),
        login,
        Socket::Login,
        stopped(stop_rx.clone()),
        in_flight.clone(),
    ));
    let admin_task = tokio::spawn(serve(
        engine.clone(),
        admin,
        Socket::Admin,
        stopped(stop_rx.clone()),
        in_flight,
    ));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = events.recv() => match event {
                Some(event) => handle_event(&engine, event).await,
                // The monitor is gone: no removal can be seen any more, as when the service
                // is gone (and no card was seen to leave either). Fail closed: lock every
                // session, then stop, so that systemd restarts us and the resync looks at
                // every reader.
                None => {
                    tracing::error!("the card monitor stopped; locking every session");
                    let e = engine.clone();
                    let seen = std::time::Instant::now();
                    joined("card monitor gone", tokio::task::spawn_blocking(move || {
                        e.reader_service_lost(seen);
                    }).await);
                    break;
                }
            },
            _ = tick.tick() => {
                let e = engine.clone();
                joined("tick", tokio::task::spawn_blocking(move || e.tick()).await);
                // What the watchdog looks at: the loop and the engine answer.
                crate::notify::tick_done();
            }
        }
    }
    // The servers hold receivers until they return: a send error means both are gone already.
    if stop_tx.send(true).is_err() {
        tracing::debug!("the socket servers had already stopped");
    }
    joined("login socket server", login_task.await);
    joined("admin socket server", admin_task.await);
    // The servers accept nothing more and have dropped their senders: only the connections
    // being served hold one now.
    let waiting = all_done.sender_strong_count();
    if waiting > 0 {
        tracing::info!(requests = waiting, "waiting for the requests in flight");
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv()).await {
        Ok(_) => Stopped { unfinished: 0 },
        Err(_) => {
            let unfinished = all_done.sender_strong_count();
            tracing::error!(
                requests = unfinished,
                grace_s = SHUTDOWN_GRACE.as_secs(),
                "requests still running after the shutdown grace period; stopping without them"
            );
            Stopped { unfinished }
        }
    }
}

async fn handle_event(engine: &Arc<Engine>, event: CardEvent) {
    // Real elapsed time for the log line that reports the lock's latency (what the daemon
    // benchmark reads), not an input to any decision: it does not come from the engine's clock.
    let seen = std::time::Instant::now();
    tracing::info!(?event, "card event");
    let readers: Vec<String> = match &event {
        CardEvent::CardRemoved { reader } | CardEvent::ReaderDetached { reader } => {
            vec![reader.clone()]
        }
        // No service: no card can be trusted to be there (fail closed), yet no card was seen
        // to leave either: the outage is recorded as such and every session locked.
        CardEvent::ServiceLost => {
            let e = engine.clone();
            joined(
                "smart-card service lost",
                tokio::task::spawn_blocking(move || {
                    e.reader_service_lost(seen);
                })
                .await,
            );
            return;
        }
        CardEvent::ServiceRestored => {
            let e = engine.clone();
            joined(
                "smart-card service back",
                tokio::task::spawn_blocking(move || e.reader_service_back()).await,
            );
            return;
        }
        CardEvent::CardInserted { reader, .. } => {
            let (e, r) = (engine.clone(), reader.clone());
            joined(
                "card insertion",
                tokio::task::spawn_blocking(move || e.card_inserted(&r)).await,
            );
            return;
        }
        _ => return,
    };
    for reader in readers {
        let e = engine.clone();
        joined(
            "card removal",
            tokio::task::spawn_blocking(move || e.card_removed_since(&reader, seen)).await,
        );
    }
}

/// A task that panicked is a bug worth the error log; the daemon goes on serving.
fn joined(what: &str, result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        tracing::error!(task = what, error = %e, "a daemon task failed");
    }
}
