//! Shutdown finishes what it started: the daemon's loop returns only once the requests it
//! accepted are answered and recorded (or a grace period ran out, which it says), so that
//! `daemon_stopped` is the last record of a run, as `cardgated`'s main records it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use cardgate_audit::record::StopReason;
use cardgate_audit::Event;
use cardgate_reader::{CardTransport, TransportError};
use cardgate_sessiond::cards::CardAccess;
use cardgate_sessiond::daemon::{self, Stopped, SHUTDOWN_GRACE};
use cardgate_sessiond::engine::{Engine, EngineParts};
use cardgate_sessiond::sessions::SessionTable;
use common::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The software cards, with a gate: once armed, the next card operation stops at the gate
/// (a slow card) until the test opens it.
struct GatedCards {
    inner: Arc<SimCards>,
    armed: AtomicBool,
    open: Mutex<bool>,
    opened: Condvar,
    entered: tokio::sync::mpsc::UnboundedSender<()>,
}

impl GatedCards {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped, also when an assertion fails: a card thread left at the gate
/// would keep the test's runtime from ending.
struct OpenOnDrop(Arc<GatedCards>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl CardAccess for GatedCards {
    fn exclusive(
        &self,
        reader: &str,
        operation: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), TransportError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.send(()).unwrap();
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
        self.inner.exclusive(reader, operation)
    }

    fn card_present(&self, reader: &str) -> bool {
        self.inner.card_present(reader)
    }
}

struct Daemon {
    world: World,
    engine: Arc<Engine>,
    gate: Arc<GatedCards>,
    entered: tokio::sync::mpsc::UnboundedReceiver<()>,
    login: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Stopped>,
    _events: tokio::sync::mpsc::UnboundedSender<cardgate_reader::CardEvent>,
}

/// The daemon's loop on the world's office, with the gated cards in its reader and Alice's
/// card in the reader.
fn start() -> Daemon {
    let world = world();
    world
        .cards
        .insert(READER, card(&world.issuer, ALICE, "op-alice"));
    let (entered_tx, entered) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(GatedCards {
        inner: world.cards.clone(),
        armed: AtomicBool::new(false),
        open: Mutex::new(false),
        opened: Condvar::new(),
        entered: entered_tx,
    });
    let engine = Arc::new(
        Engine::new(EngineParts {
            config: world.config.clone(),
            issuer: world.issuer.public_key(),
            cards: gate.clone(),
            audit: world.audit.clone(),
            actions: world.actions.clone(),
            clock: world.clock.clone(),
            sessions: SessionTable::load(&world.dir).unwrap(),
        })
        .unwrap(),
    );
    let login = world.dir.join("login.sock");
    let login_l = UnixListener::bind(&login).unwrap();
    let admin_l = UnixListener::bind(world.dir.join("admin.sock")).unwrap();
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon::run(
        engine.clone(),
        login_l,
        admin_l,
        events_rx,
        async {
            let _ = stopped.await;
        },
    ));
    Daemon {
        world,
        engine,
        gate,
        entered,
        login,
        stop,
        task,
        _events: events_tx,
    }
}

/// Sends Alice's login and returns the task that reads its answer.
async fn login(d: &mut Daemon) -> tokio::task::JoinHandle<Vec<u8>> {
    d.gate.armed.store(true, Ordering::SeqCst);
    let mut s = UnixStream::connect(&d.login).await.unwrap();
    s.write_all(
        format!(
            "{{\"op\":\"authenticate\",\"terminal\":\"juki-01\",\"user\":\"alice\",\"pin\":\"{PIN}\"}}\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = tokio::spawn(async move {
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        out
    });
    // The login is at the card.
    d.entered.recv().await.unwrap();
    answer
}

/// What `cardgated`'s main does once the loop returns.
fn record_stop(engine: &Engine, stopped: Stopped) {
    assert!(engine.record_lifecycle(Event::DaemonStopped {
        reason: StopReason::Signal,
        unfinished: (stopped.unfinished > 0).then_some(stopped.unfinished as u32),
    }));
}

fn kinds(world: &World) -> Vec<&'static str> {
    world
        .events()
        .iter()
        .map(Event::kind_name)
        .filter(|k| *k != "log_sealed")
        .collect()
}

/// Before the fix, `run` returned as soon as its servers stopped accepting, with the login
/// still at the card: `daemon_stopped` was recorded first and the login's records came after
/// it (or, with the log closed, not at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_in_flight_is_answered_and_recorded_before_daemon_stopped() {
    let mut d = start();
    let _open_at_the_end = OpenOnDrop(d.gate.clone());
    let answer = login(&mut d).await;
    d.stop.send(()).unwrap();
    let engine = d.engine.clone();
    let task = d.task;
    // main's order: the loop returns, then the stop is recorded.
    let stopping = async move {
        let stopped = task.await.unwrap();
        record_stop(&engine, stopped);
        stopped
    };
    // The card answers once the daemon has had every chance to stop without waiting for it:
    // both sockets refuse connections (their servers have returned), and then some.
    let gate = d.gate.clone();
    let sockets = [d.login.clone(), d.world.dir.join("admin.sock")];
    let card = async move {
        for socket in &sockets {
            while let Ok(s) = UnixStream::connect(socket).await {
                drop(s);
                tokio::task::yield_now().await;
            }
        }
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        gate.open();
    };
    let (stopped, ()) = tokio::join!(stopping, card);
    assert_eq!(stopped, Stopped { unfinished: 0 });
    let answer = answer.await.unwrap();
    let answer = cardgate_protocol::parse_answer(&answer, cardgate_protocol::MAX_ANSWER_BYTES)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&answer)));
    assert!(
        matches!(answer, cardgate_protocol::Answer::Granted { .. }),
        "{answer:?}"
    );
    let kinds = kinds(&d.world);
    let granted = kinds.iter().position(|k| *k == "login_granted");
    let stopped_at = kinds.iter().position(|k| *k == "daemon_stopped");
    assert!(
        granted.is_some() && granted < stopped_at && stopped_at == Some(kinds.len() - 1),
        "{kinds:?}"
    );
}

/// A card operation that hangs does not hold the daemon: after the grace period the loop
/// returns and says how many requests it gave up on, for the stop record.
#[tokio::test]
async fn a_stuck_card_is_given_up_on_after_the_grace_period() {
    tokio::time::pause();
    let mut d = start();
    let _open_at_the_end = OpenOnDrop(d.gate.clone());
    let answer = login(&mut d).await;
    let start = tokio::time::Instant::now();
    d.stop.send(()).unwrap();
    // The blocked card thread keeps the paused clock from moving on its own.
    let mut task = d.task;
    let stopped = loop {
        tokio::select! {
            stopped = &mut task => break stopped.unwrap(),
            () = tokio::task::yield_now() => tokio::time::advance(Duration::from_millis(500)).await,
        }
    };
    assert_eq!(stopped, Stopped { unfinished: 1 });
    assert!(start.elapsed() >= SHUTDOWN_GRACE, "{:?}", start.elapsed());
    record_stop(&d.engine, stopped);
    assert!(
        d.world.events().iter().any(|e| matches!(
            e,
            Event::DaemonStopped {
                unfinished: Some(1),
                ..
            }
        )),
        "{:?}",
        kinds(&d.world)
    );
    // Let the card thread go, so that the test ends.
    d.gate.open();
    drop(answer.await);
    drop(_open_at_the_end);
}
