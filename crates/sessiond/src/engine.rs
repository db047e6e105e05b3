//! The daemon's decisions: login, PIN change, sessions, card removal, revocation.
//!
//! Data flows one way: a card event or a request → a decision → its audit records (durable
//! before anything else happens, in one batch) → the session action → the answer. Every method
//! here is blocking (card I/O, fdatasync); the socket server runs them on tokio's blocking pool.
//!
//! Fail closed: when an audit record cannot be written, when the revocation list is stale
//! (by default) or unreadable, when the card goes away, the answer is "denied".
//!
//! Where each job lives:
//! * `commit`: `Decision`, what a decision wants done, and the one place it is carried out;
//! * `deny`: the one refusal vocabulary ([`DenyCode`]) and its two mappings;
//! * `login`, `present`, `pin_change`, `session_requests`: the decisions on the login socket;
//! * `admin`: the admin socket's records and their evidence;
//! * `removal`: sessions over time (card removal, resync, business hours, re-verification);
//! * `revocation`: the revocation-list watch; `watch`: the register watch and file stamps;
//! * `denials`: the gate that keeps refusals from flooding the log;
//! * `crate::session_actions`: what logind is asked to do, checked and recorded.

use crate::audit_sink::AuditSink;
use crate::cards::CardAccess;
use crate::config::{Config, RemovalAction, StalePolicy};
use crate::ratelimit::Backoff;
use crate::register::{CardState, RegisterFile};
use crate::session_actions::{ActionPolicy, SessionKeeper};
pub use crate::session_actions::{Loginctl, SessionActions};
use crate::sessions::{Session, SessionState, SessionTable};
use cardgate_protocol::{Answer, Serial};
use denials::{DenialGate, DenialKey};

mod admin;
mod commit;
mod denials;
pub mod deny;
mod login;
mod pin_change;
mod present;
mod register_requests;
mod removal;
mod revocation;
mod session_requests;
mod watch;
use cardgate_audit::record::{
    AuthFailure, CertRejection, DenyReason, EndReason, LockReason, PinRule,
};
use cardgate_audit::{Entry, Event};
use cardgate_card::cert::{CardSerial, Certificate};
use cardgate_card::login::{authenticate, check_certificate_memo, LoginError, LoginPolicy};
use cardgate_card::policy::{check_new_pin, PolicyError};
use cardgate_card::revocation::RevocationReason;
use cardgate_card::secret::SecretFormatError;
use cardgate_card::{
    IssuerPublicKey, OperatorCard, Pin, RevocationList, RevocationTracker, SecretString,
    Verification,
};
pub use cardgate_office::files::ACCEPTED_FILE;
use cardgate_reader::{CardTransport, TransportError};
use commit::{Decision, Then};
pub use deny::DenyCode;
use deny::{denied, denied_with_tries, deny_reason, login_error_code};
pub(crate) use revocation::{load_tracker, read_capped};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use time::UtcOffset;

/// How long a successful authentication may wait for its `open_session`.
pub const PENDING_LOGIN_TTL: Duration = Duration::from_secs(300);

/// The one clock (wall and monotonic), shared with the audit log: dates, business hours and
/// the list's age read its wall time; back-offs, the pending login's wait and the retries of
/// session actions its monotonic time.
pub use cardgate_office::{Clock, SystemClock};

/// Who asks, for whom, at which reader: what a refusal is keyed on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    /// The requesting local user (SO_PEERCRED).
    pub uid: u32,
    /// The user the request is for.
    pub user: &'a str,
    /// The terminal's reader.
    pub reader: &'a str,
    /// The terminal, as configured (`[[terminal]]` id): every record of the request names it.
    pub terminal: &'a str,
}

impl Asker<'_> {
    /// A record of this request, at its terminal and reader.
    pub(crate) fn entry(&self, event: Event) -> Entry {
        Entry::new(event)
            .terminal(label(self.terminal))
            .reader(label(self.reader))
    }
}

/// A record cannot be made durable: the decision is refused (fail closed).
#[derive(Debug)]
struct AuditDown;

#[derive(Debug, Clone)]
struct PendingLogin {
    serial: CardSerial,
    operator_id: String,
    must_change_pin: bool,
    at: Instant,
}

struct RevocationState {
    tracker: RevocationTracker,
    list: Option<Arc<RevocationList>>,
    file_stamp: Option<watch::FileStamp>,
}

/// A short, always-valid audit label from outside text (operator IDs come from cards): the
/// audit crate's one definition.
pub use cardgate_audit::record::label;

fn audit_down() -> Answer {
    denied(
        DenyCode::AuditUnavailable,
        "the audit log cannot be written; logins are refused until it can",
    )
}

/// The rule a refused new PIN broke, as the record names it.
fn pin_rule(e: &PolicyError) -> PinRule {
    match e {
        PolicyError::Format(SecretFormatError::TooShort { .. }) => PinRule::TooShort,
        PolicyError::Format(SecretFormatError::TooLong { .. }) => PinRule::TooLong,
        PolicyError::Format(SecretFormatError::NoLetter) => PinRule::NoLetter,
        PolicyError::Format(SecretFormatError::NoDigit) => PinRule::NoDigit,
        PolicyError::Format(SecretFormatError::BadCharacter) => PinRule::BadCharacter,
        PolicyError::SameAsCurrent => PinRule::SameAsOld,
        PolicyError::ContainsOperatorId => PinRule::ContainsOperatorId,
        PolicyError::RepeatOrRun => PinRule::RepeatOrRun,
        PolicyError::Blocklisted => PinRule::Blocklisted,
        // A rule added to the policy later: not called by another rule's name.
        _ => PinRule::Other,
    }
}

/// The daemon's state and decisions.
pub struct Engine {
    config: Config,
    offset: UtcOffset,
    issuer: IssuerPublicKey,
    /// Certificates whose issuer signature already verified (the same card's every login
    /// after its first skips that Ed25519 check; revocation and dates are checked each time).
    verified: cardgate_card::VerifiedCertificates,
    cards: Arc<dyn CardAccess>,
    audit: Arc<AuditSink>,
    keeper: Arc<SessionKeeper>,
    clock: Arc<dyn Clock>,
    register: RegisterFile,
    denials: Mutex<DenialGate>,
    /// This boot's ID: sessions are tied to it.
    boot_id: String,
    /// The list versions whose staleness has been recorded (`stale = "warn"`).
    stale_warned: Mutex<Option<u64>>,
    revocation: Mutex<RevocationState>,
    card_backoff: Mutex<Backoff<CardSerial>>,
    terminal_backoff: Mutex<Backoff<String>>,
    pending: Mutex<HashMap<(String, String), PendingLogin>>,
    register_stamp: Mutex<Option<watch::FileStamp>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, never a half-done
    // card operation; keep serving rather than wedge every terminal.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything the engine is built from.
pub struct EngineParts {
    /// The checked configuration.
    pub config: Config,
    /// The issuer key.
    pub issuer: IssuerPublicKey,
    /// The readers.
    pub cards: Arc<dyn CardAccess>,
    /// The audit log.
    pub audit: Arc<AuditSink>,
    /// logind.
    pub actions: Arc<dyn SessionActions>,
    /// The one clock; the daemon gives the audit log the same one.
    pub clock: Arc<dyn Clock>,
    /// The session table (loaded from the state directory in the daemon).
    pub sessions: SessionTable,
}

impl Engine {
    /// Builds the engine and loads the revocation list (a missing or bad list leaves none in
    /// force: logins are refused until a good one appears).
    pub fn new(parts: EngineParts) -> Result<Self, EngineError> {
        let tracker = load_tracker(&parts.config.daemon.state_dir)?;
        let offset =
            UtcOffset::from_whole_seconds(i32::from(parts.config.daemon.utc_offset_minutes) * 60)
                .unwrap_or(UtcOffset::UTC);
        let rl = &parts.config.rate_limit;
        let (free, base, max) = (
            rl.free_failures,
            Duration::from_millis(rl.base_delay_ms),
            Duration::from_millis(rl.max_delay_ms),
        );
        let session = &parts.config.session;
        let policy = ActionPolicy {
            attempts: session.action_attempts,
            retry_first: Duration::from_millis(session.action_retry_ms),
            lock_confirm: Duration::from_millis(session.lock_confirm_ms),
            ..ActionPolicy::default()
        };
        let refusals = &parts.config.refusals;
        let denials = DenialGate::new(refusals.window_seconds, refusals.per_user, refusals.total);
        // Without a boot ID, sessions cannot be told from the sessions of an earlier boot:
        // every session kept from before is then treated as of another boot (ended).
        let boot_id = crate::sessions::current_boot_id().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read this boot's ID");
            String::from("unknown")
        });
        let engine = Engine {
            register: RegisterFile::new(&parts.config.daemon.state_dir),
            offset,
            issuer: parts.issuer,
            verified: cardgate_card::VerifiedCertificates::new(parts.issuer),
            cards: parts.cards,
            keeper: SessionKeeper::new(
                parts.sessions,
                parts.actions,
                parts.audit.clone(),
                policy,
                parts.clock.clone(),
            ),
            audit: parts.audit,
            clock: parts.clock,
            denials: Mutex::new(denials),
            boot_id,
            stale_warned: Mutex::new(None),
            revocation: Mutex::new(RevocationState {
                tracker,
                list: None,
                file_stamp: None,
            }),
            card_backoff: Mutex::new(Backoff::new(free, base, max)),
            terminal_backoff: Mutex::new(Backoff::new(free, base, max)),
            pending: Mutex::new(HashMap::new()),
            register_stamp: Mutex::new(None),
            config: parts.config,
        };
        engine.reload_revocation_if_changed();
        Ok(engine)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn record(&self, entry: Entry) -> Result<(), AuditDown> {
        self.audit.append(entry).map(|_| ()).map_err(|_| AuditDown)
    }

    fn today(&self) -> time::Date {
        self.clock.wall().to_offset(self.offset).date()
    }

    /// The list in force, or the refusal when there is none or it is stale (and stale means
    /// refuse).
    fn current_list(&self) -> Result<Arc<RevocationList>, (DenyCode, Answer)> {
        let list = locked(&self.revocation).list.clone();
        let Some(list) = list else {
            let code = DenyCode::RevocationListUnavailable;
            return Err((
                code,
                denied(
                    code,
                    "no valid revocation list is in force; logins are refused",
                ),
            ));
        };
        if list.is_stale(self.clock.wall().unix_timestamp()) {
            if self.config.revocation.stale == StalePolicy::Refuse {
                let code = DenyCode::RevocationListStale;
                return Err((
                    code,
                    denied(
                        code,
                        "the revocation list is out of date; ask the access manager for a new one",
                    ),
                ));
            }
            self.warn_stale(&list);
        }
        Ok(list)
    }

    /// `stale = "warn"`: the login goes on, and the staleness is logged at every use and
    /// recorded once per list version (a record per login would say nothing more).
    fn warn_stale(&self, list: &RevocationList) {
        tracing::warn!(
            version = list.version(),
            next_update = list.next_update(),
            "the revocation list is past its next update; logins go on (stale = \"warn\")"
        );
        let mut warned = locked(&self.stale_warned);
        if *warned == Some(list.version()) {
            return;
        }
        let entry = Entry::new(Event::RevocationListStale {
            version: list.version(),
            next_update: list.next_update(),
        });
        match self.record(entry) {
            Ok(()) => *warned = Some(list.version()),
            Err(AuditDown) => {
                tracing::error!(
                    version = list.version(),
                    "the stale revocation list could not be recorded"
                );
            }
        }
    }

    /// A refusal made before any secret reached the card (or with no try spent): its records,
    /// unless the requesting user has already caused the same one, or too many, in this
    /// window (see `denials`): then it is only counted. The summaries of the windows that
    /// ended go into the same batch. `entries` are the refusal's records, all for one denial.
    fn gated(&self, key: DenialKey, entries: Vec<Entry>, answer: Answer) -> Decision {
        let uid = key.uid;
        let now_ms = self.clock.wall().unix_timestamp_nanos() / 1_000_000;
        let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let (held, admitted) = {
            let mut gate = locked(&self.denials);
            let held = gate.roll(now_ms);
            (held, gate.admit(key, now_ms))
        };
        let mut records = suppressed_entries(held);
        if admitted {
            records.extend(entries.into_iter().map(|e| e.uid(uid)));
        }
        Decision::recording(records, answer)
    }

    /// A refusal made before any secret reached the card, with its records gated.
    fn refuse(
        &self,
        asker: &Asker<'_>,
        card: Option<CardSerial>,
        code: DenyCode,
        entries: Vec<Entry>,
        answer: Answer,
    ) -> Decision {
        let key = DenialKey {
            uid: asker.uid,
            user: asker.user.to_owned(),
            reader: asker.reader.to_owned(),
            card,
            reason: format!("{:?}", deny_reason(code)),
        };
        self.gated(key, entries, answer)
    }

    /// Refuses at the asker's reader before any card was read: one `login_denied`, gated.
    fn refuse_at_reader(&self, asker: &Asker<'_>, code: DenyCode, answer: Answer) -> Decision {
        let entry = asker.entry(Event::LoginDenied {
            reason: deny_reason(code),
        });
        self.refuse(asker, None, code, vec![entry], answer)
    }

    /// Refuses the card the asker presented, before any secret reached it (or with no try
    /// spent): `events`, then `login_denied`, each made by `who`, gated like every such
    /// refusal.
    fn refuse_card(
        &self,
        asker: &Asker<'_>,
        serial: CardSerial,
        who: &dyn Fn(Event) -> Entry,
        events: Vec<Event>,
        code: DenyCode,
        answer: Answer,
    ) -> Decision {
        let entries = events
            .into_iter()
            .chain([Event::LoginDenied {
                reason: deny_reason(code),
            }])
            .map(who)
            .collect();
        self.refuse(asker, Some(serial), code, entries, answer)
    }

    /// Writes the summaries of refusals held back in windows that have ended.
    fn record_held_denials(&self) {
        let now_ms = self.clock.wall().unix_timestamp_nanos() / 1_000_000;
        let held = locked(&self.denials).roll(i64::try_from(now_ms).unwrap_or(i64::MAX));
        self.record_suppressed(held);
    }

    /// Records what the refusal gate holds back so far, before the daemon stops: nothing
    /// asked is left uncounted.
    pub fn record_refusals_held_back(&self) {
        let held = locked(&self.denials).close();
        self.record_suppressed(held);
    }

    fn record_suppressed(&self, held: Vec<denials::Suppressed>) {
        let count: u64 = held.iter().map(|h| h.count).sum();
        if let Err(e) = self.audit.append_batch(suppressed_entries(held)) {
            tracing::error!(count, error = %e, "the count of refusals held back could not be recorded");
        }
    }

    /// Checks a request's terminal and returns its reader.
    fn reader_of(&self, terminal: &str) -> Result<String, Answer> {
        self.config
            .terminal(terminal)
            .map(|t| t.reader.clone())
            .ok_or_else(|| Answer::Error {
                message: format!("unknown terminal {terminal:?}"),
            })
    }

    /// A record of a card event at `reader`: it names the terminal whose reader it is (the
    /// writer's own label only for a reader no terminal uses, the access manager's desk).
    fn at_reader(&self, event: Event, reader: &str) -> Entry {
        let entry = Entry::new(event).reader(label(reader));
        match self.config.terminal_for_reader(reader) {
            Some(t) => entry.terminal(label(&t.id)),
            None => entry,
        }
    }

    fn outside_hours(&self) -> bool {
        self.config
            .business_hours
            .as_ref()
            .is_some_and(|h| !h.contains(self.clock.wall(), self.offset))
    }

    /// Every open session.
    pub fn sessions(&self) -> Vec<Session> {
        self.keeper.table().all()
    }

    /// The version of the list in force.
    pub fn revocation_version(&self) -> Option<u64> {
        locked(&self.revocation).list.as_ref().map(|l| l.version())
    }
}

/// The records of refusals held back in windows that ended.
fn suppressed_entries(held: Vec<denials::Suppressed>) -> Vec<Entry> {
    held.into_iter()
        .map(|h| {
            Entry::new(Event::DenialsSuppressed {
                user: label(&h.user),
                count: h.count,
                since: cardgate_audit::Timestamp(h.since_ms),
            })
            .uid(h.uid)
        })
        .collect()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The record of the accepted revocation list is unreadable: refuse to start rather than
    /// risk accepting an older list (rollback).
    #[error("{path} is unreadable or malformed; refusing to start (remove it only if you know the newest list version)")]
    AcceptedState {
        /// The file.
        path: PathBuf,
    },
    /// `revocation.accepted` has a format version this cardgated does not know.
    #[error("{path} has format version {version}; this cardgated reads version {}: it was written by another cardgate version (downgraded?); refusing to start", cardgate_office::files::ACCEPTED_FORMAT_VERSION)]
    AcceptedFormat {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
}
