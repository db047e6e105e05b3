//! Shared test fixtures: software cards in named readers, a recording `loginctl`, and a
//! whole engine over a real audit log in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use cardgate_audit::record::SessionType;
use cardgate_audit::storage::{FaultPlan, FaultyStorage};
use cardgate_audit::{AuditConfig, AuditLog, Event, Label, Record, SystemClock};
use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::issue::IssueRequest;
use cardgate_card::revocation::{Revocation, RevocationListBuilder, RevocationReason};
use cardgate_card::{IssuerKey, Pin, Puk, SecretString};
use cardgate_protocol::Answer;
use cardgate_reader::{
    run_operation, AfterTransaction, CardReaders, CardTransaction, CardTransport, ReaderError,
    Reselect, TransportError,
};
use cardgate_sessiond::config::Config;
use cardgate_sessiond::engine::{Engine, EngineParts, SessionActions};
use cardgate_sessiond::session_actions::LogindSession;
use cardgate_sessiond::sessions::SessionTable;
use cardgate_sim::transport::Transcript;
use cardgate_sim::{create_card, CardImage, SimTransport, SoftCard};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use time::macros::date;

pub const READER: &str = "Virtual PCD 00 00";
pub use cardgate_tests::fixtures::{PIN, PUK};
pub const ALICE: CardSerial = CardSerial([0xA1, 0, 0, 0, 0, 0, 0, 1]);
pub const BOB: CardSerial = CardSerial([0xB0, 0, 0, 0, 0, 0, 0, 2]);

/// Software cards in readers; a card can be inserted or pulled at any time.
#[derive(Default)]
pub struct SimCards {
    readers: Mutex<HashMap<String, SimTransport>>,
    pub transcript: Transcript,
}

impl SimCards {
    /// Inserts a card whose exchanges go wrong as `faults` say (a card pulled mid-request).
    pub fn insert_with_faults(
        &self,
        reader: &str,
        image: CardImage,
        faults: cardgate_sim::transport::Faults,
    ) {
        let t = SimTransport::new(SoftCard::in_memory(image))
            .with_transcript(self.transcript.clone())
            .with_faults(faults);
        self.readers.lock().unwrap().insert(reader.into(), t);
    }
    pub fn insert(&self, reader: &str, image: CardImage) {
        let t =
            SimTransport::new(SoftCard::in_memory(image)).with_transcript(self.transcript.clone());
        self.readers.lock().unwrap().insert(reader.into(), t);
    }
    pub fn pull(&self, reader: &str) -> CardImage {
        self.readers
            .lock()
            .unwrap()
            .remove(reader)
            .unwrap()
            .into_card()
            .into_image()
    }

    /// Whether the card in `reader` holds a verified PIN now (between operations it must not).
    pub fn pin_verified(&self, reader: &str) -> bool {
        self.readers.lock().unwrap()[reader]
            .card()
            .is_pin_verified()
    }
}

/// The reader crate's seam over the software cards, so that in-process tests run the same
/// contract as PC/SC: one operation at a time, ended by the caller's re-select, and a reset
/// when the card refuses it ([`run_operation`]).
impl CardReaders for SimCards {
    fn transaction(
        &self,
        reader: &str,
        reselect: &Reselect,
        op: &mut dyn FnMut(&mut dyn CardTransport),
    ) -> Result<(), ReaderError> {
        let mut readers = self.readers.lock().unwrap();
        let t = readers
            .get_mut(reader)
            .ok_or_else(|| ReaderError::new(reader, TransportError::NoCard))?;
        // The PC/SC backend resets the card as it disconnects after each operation.
        t.card_mut().power_on();
        run_operation(reader, SimTransaction(t), reselect, op)
    }
    fn card_present(&self, reader: &str) -> bool {
        self.readers.lock().unwrap().contains_key(reader)
    }
}

/// One operation's transaction on a software card.
struct SimTransaction<'a>(&'a mut SimTransport);

impl CardTransport for SimTransaction<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, TransportError> {
        self.0.transmit(command)
    }
    fn reader_name(&self) -> &str {
        self.0.reader_name()
    }
}

impl CardTransaction for SimTransaction<'_> {
    fn end(self, after: AfterTransaction) -> Result<(), TransportError> {
        if after == AfterTransaction::ResetCard {
            self.0.card_mut().reset();
        }
        Ok(())
    }
}

/// The system clock plus an offset the test can move: wall and monotonic move forward
/// together; a step back moves only the wall reading (as a clock correction does).
#[derive(Default, Debug)]
pub struct ManualClock {
    wall: std::sync::atomic::AtomicI64,
    monotonic: std::sync::atomic::AtomicU64,
}

impl ManualClock {
    pub fn advance(&self, seconds: i64) {
        use std::sync::atomic::Ordering::SeqCst;
        self.wall.fetch_add(seconds, SeqCst);
        if let Ok(forward) = u64::try_from(seconds) {
            self.monotonic.fetch_add(forward, SeqCst);
        }
    }
}

impl cardgate_sessiond::engine::Clock for ManualClock {
    fn wall(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
            + time::Duration::seconds(self.wall.load(std::sync::atomic::Ordering::SeqCst))
    }
    fn monotonic(&self) -> std::time::Instant {
        std::time::Instant::now()
            + std::time::Duration::from_secs(
                self.monotonic.load(std::sync::atomic::Ordering::SeqCst),
            )
    }
}

/// A recording stand-in for logind: every action is kept (not the `show-session` reads); the
/// verbs in `failing` fail. Its sessions are graphical, with a locker that sets `LockedHint`
/// on a lock that worked and clears it on an unlock; a session is gone once a terminate
/// worked; the sessions in `.2` have no locker (a text console).
#[derive(Default)]
pub struct RecordedActions(
    pub Mutex<Vec<String>>,
    pub Mutex<Vec<&'static str>>,
    pub Mutex<Vec<String>>,
);

impl RecordedActions {
    fn call(&self, verb: &'static str, id: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(format!("{verb} {id}"));
        if self.1.lock().unwrap().contains(&verb) {
            Err(format!(
                "{verb} {id}: exit status: 1: Failed to issue method call"
            ))
        } else {
            Ok(())
        }
    }
    /// From now on, `verb` fails (or, with `false`, works again).
    pub fn set_failing(&self, verb: &'static str, failing: bool) {
        let mut f = self.1.lock().unwrap();
        f.retain(|v| *v != verb);
        if failing {
            f.push(verb);
        }
    }
    /// What the calls so far made of `id`: (locked, gone). A call that failed did nothing;
    /// which calls failed is not kept, so a verb failing now counts as having always failed.
    fn state(&self, id: &str) -> (bool, bool) {
        let failing = self.1.lock().unwrap().clone();
        let (mut locked, mut gone) = (false, false);
        for call in self.0.lock().unwrap().iter() {
            let Some((verb, who)) = call.split_once(' ') else {
                continue;
            };
            if who != id || failing.contains(&verb) {
                continue;
            }
            match verb {
                "lock-session" => locked = true,
                "unlock-session" => locked = false,
                "terminate-session" => gone = true,
                _ => {}
            }
        }
        (locked, gone)
    }
}

impl SessionActions for RecordedActions {
    fn lock(&self, id: &str) -> Result<(), String> {
        self.call("lock-session", id)
    }
    fn unlock(&self, id: &str) -> Result<(), String> {
        self.call("unlock-session", id)
    }
    fn terminate(&self, id: &str) -> Result<(), String> {
        self.call("terminate-session", id)
    }
    fn show(&self, id: &str) -> Result<Option<LogindSession>, String> {
        if self.1.lock().unwrap().contains(&"show-session") {
            return Err(format!("show-session {id}: exit status: 1"));
        }
        let (locked, gone) = self.state(id);
        if gone {
            return Ok(None);
        }
        let console = self.2.lock().unwrap().iter().any(|c| c == id);
        Ok(Some(LogindSession {
            session_type: if console {
                SessionType::Tty
            } else {
                SessionType::X11
            },
            closing: false,
            locked_hint: locked && !console,
        }))
    }
}

/// The fault-injecting disk, counting the fdatasyncs of the audit log's segments.
#[derive(Debug)]
struct CountingStorage {
    inner: FaultyStorage,
    syncs: Arc<AtomicU64>,
}

struct CountingSegment {
    inner: Box<dyn cardgate_audit::storage::SegmentFile>,
    syncs: Arc<AtomicU64>,
}

impl cardgate_audit::storage::SegmentFile for CountingSegment {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)
    }
    fn sync_data(&mut self) -> std::io::Result<()> {
        self.syncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.truncate(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
}

impl cardgate_audit::storage::Storage for CountingStorage {
    fn open_segment(
        &self,
        path: &Path,
    ) -> std::io::Result<Box<dyn cardgate_audit::storage::SegmentFile>> {
        Ok(Box::new(CountingSegment {
            inner: self.inner.open_segment(path)?,
            syncs: self.syncs.clone(),
        }))
    }
}

pub struct World {
    pub dir: PathBuf,
    pub issuer: IssuerKey,
    pub cards: Arc<SimCards>,
    pub actions: Arc<RecordedActions>,
    pub engine: Arc<Engine>,
    pub audit: Arc<cardgate_sessiond::audit_sink::AuditSink>,
    pub faults: Arc<FaultPlan>,
    /// How many fdatasyncs the audit log has made.
    pub syncs: Arc<AtomicU64>,
    pub config: Config,
    pub audit_config: AuditConfig,
    pub clock: Arc<ManualClock>,
}

pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("cardgated-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn card(issuer: &IssuerKey, serial: CardSerial, operator: &str) -> CardImage {
    let request = IssueRequest {
        serial,
        operator_id: operator.into(),
        role: Role::Operator,
        valid_from: date!(2025 - 04 - 01),
        valid_until: date!(2099 - 03 - 31),
    };
    create_card(
        issuer,
        &Puk::parse(PUK).unwrap(),
        &Pin::parse(PIN).unwrap(),
        &request,
    )
    .unwrap()
}

pub fn write_list(
    dir: &Path,
    issuer: &IssuerKey,
    version: u64,
    revoked: &[CardSerial],
    next_update: i64,
) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut b = RevocationListBuilder::new(version, now - 10, next_update);
    for s in revoked {
        b.revoke(
            *s,
            Revocation {
                revoked_at: now,
                reason: RevocationReason::Lost,
            },
        );
    }
    std::fs::write(dir.join("revoked.crl"), b.sign(issuer).unwrap()).unwrap();
}

pub fn world_with(extra_config: &str) -> World {
    world_cfg("refuse", extra_config)
}

pub fn world_cfg(stale: &str, extra_config: &str) -> World {
    world_full("", stale, extra_config)
}

/// `daemon_extra` goes into `[daemon]`, `extra_config` after `[revocation]`.
/// The writer's own label in the test world: the host name, as `cardgated` gives it.
pub const HOST: &str = "office-host";

pub fn world_full(daemon_extra: &str, stale: &str, extra_config: &str) -> World {
    let dir = temp_dir("engine");
    let issuer = IssuerKey::generate().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    write_list(&dir, &issuer, 1, &[], now + 86_400);
    let audit_dir = dir.join("audit");
    // The writer's own label is the host's, as in the daemon (not the terminal's ID): the
    // records about a terminal must name the terminal themselves.
    AuditLog::init(&audit_dir, Label::new(HOST).unwrap(), &SystemClock).unwrap();
    let faults = FaultPlan::new();
    // One clock for the engine and its audit log, as in the daemon.
    let clock = Arc::new(ManualClock::default());
    let mut audit_config = AuditConfig::new(&audit_dir, Label::new(HOST).unwrap());
    audit_config.clock = clock.clone();
    let syncs = Arc::new(AtomicU64::new(0));
    audit_config.storage = Arc::new(CountingStorage {
        inner: FaultyStorage {
            plan: faults.clone(),
        },
        syncs: syncs.clone(),
    });
    let audit_config_clone = audit_config.clone();
    let (audit, _) = cardgate_sessiond::audit_sink::AuditSink::open(audit_config).unwrap();
    let audit = Arc::new(audit);
    let config = Config::parse(&format!(
        r#"
[daemon]
state_dir = "{d}"
{daemon_extra}
[revocation]
list = "{d}/revoked.crl"
stale = "{stale}"
{extra_config}
[[terminal]]
id = "juki-01"
reader = "{READER}"
[operators]
"op-alice" = "alice"
"op-bob" = "bob"
"#,
        d = dir.display()
    ))
    .unwrap();
    let cards = Arc::new(SimCards::default());
    let actions = Arc::new(RecordedActions::default());
    let config_kept = config.clone();
    let audit_config_kept = audit_config_clone;
    let engine = Arc::new(
        Engine::new(EngineParts {
            config,
            issuer: issuer.public_key(),
            cards: cards.clone(),
            audit: audit.clone(),
            actions: actions.clone(),
            clock: clock.clone(),
            sessions: SessionTable::load(&dir).unwrap(),
        })
        .unwrap(),
    );
    World {
        clock,
        config: config_kept,
        audit_config: audit_config_kept,
        dir,
        issuer,
        cards,
        actions,
        engine,
        audit,
        faults,
        syncs,
    }
}

pub fn world() -> World {
    world_with("")
}

impl World {
    /// The daemon stops (its log sealed and closed) and starts again on the same state.
    pub fn restart(&mut self) -> Result<(), cardgate_sessiond::engine::EngineError> {
        self.settle();
        self.audit.close().unwrap();
        let (audit, _) =
            cardgate_sessiond::audit_sink::AuditSink::open(self.audit_config.clone()).unwrap();
        self.audit = Arc::new(audit);
        self.engine = Arc::new(Engine::new(EngineParts {
            config: self.config.clone(),
            issuer: self.issuer.public_key(),
            cards: self.cards.clone(),
            audit: self.audit.clone(),
            actions: self.actions.clone(),
            clock: self.clock.clone(),
            sessions: SessionTable::load(&self.dir).unwrap(),
        })?);
        Ok(())
    }

    /// The engine's "now", in Unix seconds.
    pub fn clock_now(&self) -> i64 {
        cardgate_sessiond::engine::Clock::wall(&*self.clock).unix_timestamp()
    }

    /// Waits until the session actions handed out so far are done (they run on their own
    /// threads) and their records written.
    pub fn settle(&self) {
        assert!(
            self.engine
                .wait_for_session_actions(std::time::Duration::from_secs(20)),
            "session actions still running"
        );
    }

    /// The calls logind got, once the actions handed out so far are done.
    pub fn calls(&self) -> Vec<String> {
        self.settle();
        self.actions.0.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<Event> {
        self.records().into_iter().map(|r| r.event).collect()
    }

    /// Every record the engine wrote, once the session actions handed out so far are done.
    pub fn records(&self) -> Vec<Record> {
        self.settle();
        let mut out = Vec::new();
        for (_, path) in cardgate_audit::segments::list_segments(&self.dir.join("audit")).unwrap() {
            for line in std::fs::read(path)
                .unwrap()
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
            {
                out.push(Record::parse(line).unwrap());
            }
        }
        out
    }

    pub fn kinds_since(&self, start: usize) -> Vec<&'static str> {
        self.events()[start..]
            .iter()
            .map(Event::kind_name)
            .filter(|k| *k != "log_sealed")
            .collect()
    }

    pub fn auth(&self, user: &str, pin: &str) -> Answer {
        self.engine
            .authenticate(0, "juki-01", user, &SecretString::from(pin))
    }
}

pub fn reason(a: &Answer) -> &str {
    match a {
        Answer::Denied { code, .. } => code.as_str(),
        Answer::Granted { .. } => "granted",
        Answer::Ready { .. } => "ready",
        Answer::Error { .. } | Answer::Info { .. } => "error",
    }
}
